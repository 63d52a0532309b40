{# One table of the registry snapshot (source 'registry', lake/raw/registry/<table>.parquet) with the
   columns and types its source declares. When the file does not exist (a lake whose registry was never
   snapshotted) it is an empty table of the same columns, so the build still works. The file check runs
   when the model is built (DuckDB's glob()): the registry source is DuckDB-specific like every raw
   Parquet source. #}
{% macro registry_snapshot(table_name) -%}
    {%- set relation = source('registry', table_name) -%}
    {%- if not execute -%}
        select * from {{ relation }}
    {%- else -%}
        {%- set columns = graph.sources['source.sfe.registry.' ~ table_name].columns.values() | list -%}
        {%- if not columns -%}
            {{ exceptions.raise_compiler_error("source registry." ~ table_name ~ " declares no columns") }}
        {%- endif -%}
        {%- set path = env_var('SFE_LAKE_DIR') ~ '/raw/registry/' ~ table_name ~ '.parquet' -%}
        {%- set found = run_query("select count(*) from glob('" ~ (path | replace("'", "''")) ~ "')").columns[0].values()[0] -%}
        {%- if found > 0 %}
select
    {%- for column in columns %}
    cast({{ adapter.quote(column.name) }} as {{ column.data_type }}) as {{ column.name }}{{ "," if not loop.last }}
    {%- endfor %}
from {{ relation }}
        {%- else %}
-- no snapshot file at {{ path }}: an empty table of the declared columns
select
    {%- for column in columns %}
    cast(null as {{ column.data_type }}) as {{ column.name }}{{ "," if not loop.last }}
    {%- endfor %}
where 1 = 0
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
