{# Incremental facts: rebuild only the raw partitions that changed (docs/incremental.md).

   Ingest lists every raw partition it wrote in raw/<source>/_partitions.json: the day and the SHA-256
   of the file. A fact built from raw partitions keeps what it was last built from in
   incremental_state.<model>__built: one row per (source, day, sha256), and one 'lookups' row, a
   fingerprint of everything else its rows depend on (the lookup tables it joins, its own SQL and the
   staging views it reads). An incremental run replaces the rows of the (source, day) pairs whose sha256
   changed, appeared or disappeared; when the fingerprint changed, or no state exists, every row.

   The plan is made when the model is compiled, right before it runs in the same dbt invocation:
     incremental_state.<model>__seen     what this run reads: the manifests now, and the fingerprint now
     incremental_state.<model>__changes  the (source_id, partition_date) pairs replaced; source_id '*' =
                                         every row
   The model's post-hook (incremental_mark_built) makes __seen the new __built inside the model's
   transaction, so the state never runs ahead of the rows. A partition rewritten while the build runs
   differs from __built at the next build and is replaced then.

   Tests (incremental_tests.sql): __tested is the __built state whose rows all passed the model's
   tests; __untested lists the (source, day) pairs that differ from it. A model that declares
   meta.incremental_test_scope has its generic tests run on those rows only, on incremental runs. #}

{% macro incremental_state_table(suffix, model_name=none) -%}
    incremental_state.{{ adapter.quote((model_name or model.name) ~ '__' ~ suffix) }}
{%- endmacro %}


{# The partitions of one raw source as ingest last wrote them: (item = source id, partition_date,
   fingerprint = sha256). A source without a manifest and without partitions has none; a source with
   partitions but no manifest (a lake ingested before manifests existed) returns none, which makes the
   caller rebuild every row. #}
{% macro _raw_partition_manifest(source_id) -%}
    {%- set raw_dir = env_var('SFE_LAKE_DIR') ~ '/raw/' ~ source_id -%}
    {%- set manifest = raw_dir ~ '/_partitions.json' -%}
    {%- if run_query("select count(*) from glob(" ~ _sql_string(manifest) ~ ")").columns[0].values()[0] > 0 -%}
        {{ return(
            "select '" ~ source_id ~ "' as item, partition_date, sha256 as fingerprint from read_json("
            ~ _sql_string(manifest) ~ ", format = 'array', columns = {partition_date: 'date', sha256: 'varchar'})"
        ) }}
    {%- elif run_query("select count(*) from glob(" ~ _sql_string(raw_dir ~ '/date=*/*.parquet') ~ ")").columns[0].values()[0] > 0 -%}
        {{ return(none) }}
    {%- else -%}
        {{ return("select '" ~ source_id ~ "' as item, cast(null as date) as partition_date, cast(null as varchar) as fingerprint where false") }}
    {%- endif -%}
{%- endmacro %}


{% macro _sql_string(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}


{# The fingerprint of what a fact's rows depend on besides its raw partitions: the rows of each lookup
   query (count and sum of row hashes) and the SQL of the model and of the views it reads. #}
{% macro _lookups_fingerprint(lookups) -%}
    {%- set checksums = [model.checksum.checksum] -%}
    {%- for node_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(node_id) -%}
        {%- if node and node.resource_type == 'model' and node.config.materialized == 'view' -%}
            {%- do checksums.append(node.checksum.checksum) -%}
        {%- endif -%}
    {%- endfor -%}
    md5(concat_ws('|', '{{ checksums | join("|") }}'
    {%- for lookup in lookups %},
        (select count(*) || ':' || coalesce(cast(sum(hash(lookup)) as varchar), '') from ({{ lookup }}) as lookup)
    {%- endfor %}))
{%- endmacro %}


{% macro _state_exists(table_name) -%}
    {{ return(run_query(
        "select count(*) from information_schema.tables where table_schema = 'incremental_state' and table_name = "
        ~ _sql_string(table_name)).columns[0].values()[0] > 0) }}
{%- endmacro %}


{# The (source_id, partition_date) pairs whose sha256 differs between two states; ('*', null) when the
   lookups fingerprint differs or there is no earlier state (every row). #}
{% macro _state_difference(now, before) -%}
    {%- if before is none -%}
        select '*' as source_id, cast(null as date) as partition_date, '{{ invocation_id }}' as invocation_id
    {%- else -%}
        with differ as (
            (select * from {{ now }} except select * from {{ before }})
            union
            (select * from {{ before }} except select * from {{ now }})
        )
        select distinct
            case when item = 'lookups' then '*' else item end as source_id,
            case when item = 'lookups' then null else partition_date end as partition_date,
            '{{ invocation_id }}' as invocation_id
        from differ
    {%- endif -%}
{%- endmacro %}


{# Plan this run of an incremental fact; returns {'all': bool, 'days': {source_id: [ISO day, ...]}}.
   source_ids: the raw sources whose partitions the model reads; lookups: SQL queries whose rows the
   model joins (a change in them replaces every row). #}
{% macro plan_incremental(source_ids, lookups=[]) -%}
    {#- Only a run or build plans (and writes the state tables); compile and docs show the full build. #}
    {%- if not execute or flags.WHICH not in ('run', 'build') -%}
        {{ return({'all': true, 'days': {}}) }}
    {%- endif -%}
    {%- set seen, built, tested = incremental_state_table('seen'), incremental_state_table('built'), incremental_state_table('tested') -%}
    {%- set changes, untested = incremental_state_table('changes'), incremental_state_table('untested') -%}
    {%- set manifests = [] -%}
    {%- for source_id in source_ids -%}
        {%- do manifests.append(_raw_partition_manifest(source_id)) -%}
    {%- endfor -%}
    {%- do run_query("create schema if not exists incremental_state") -%}
    {%- call statement('incremental_seen') -%}
        create or replace table {{ seen }} as
        {% for manifest in manifests if manifest is not none -%}
        {{ manifest }}
        union all
        {% endfor -%}
        select 'lookups' as item, cast(null as date) as partition_date, {{ _lookups_fingerprint(lookups) }} as fingerprint
    {%- endcall -%}
    {%- set have_state = is_incremental() and none not in manifests and _state_exists(model.name ~ '__built') -%}
    {%- set have_tested = have_state and _state_exists(model.name ~ '__tested') -%}
    {%- call statement('incremental_changes') -%}
        create or replace table {{ changes }} as
        {{ _state_difference(seen, built if have_state else none) }}
    {%- endcall -%}
    {%- call statement('incremental_untested') -%}
        {#- Rebuilt whole: every row must pass the tests again before any is taken as tested. #}
        {% if not have_state -%}drop table if exists {{ tested }};{%- endif %}
        create or replace table {{ untested }} as
        {{ _state_difference(seen, tested if have_tested else none) }}
    {%- endcall -%}
    {%- set plan = {'all': false, 'days': {}} -%}
    {%- for row in run_query("select source_id, cast(partition_date as varchar) from " ~ changes ~ " order by all") -%}
        {%- if row[0] == '*' -%}
            {%- do plan.update({'all': true}) -%}
        {%- else -%}
            {%- do plan['days'].setdefault(row[0], []).append(row[1]) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do log(model.name ~ ": " ~ ("every row" if plan['all'] else (plan['days'] | tojson)) ~ " to rebuild", info=false) -%}
    {{ return(plan) }}
{%- endmacro %}


{# A condition on raw rows: the partitions of source_id this run rebuilds (literal days, so that DuckDB
   skips the other partitions' files by their statistics). #}
{% macro rebuilt_partitions(plan, source_id, column='partition_date') -%}
    {%- set days = plan['days'].get(source_id, []) -%}
    {%- if plan['all'] -%}
        true
    {%- elif days -%}
        {{ column }} in ({% for day in days %}date '{{ day }}'{{ ", " if not loop.last }}{% endfor %})
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}


{# A condition on the model's own rows: those of source_id's partitions this run replaces (for the
   delete of the replace_partitions strategy). Reads the __changes table of model_name; with
   state='untested', the rows not yet tested (incremental_test_scope). #}
{% macro replaced_partitions(model_name, source_id, column='partition_date', state='changes') -%}
    ({{ column }} in (
        select partition_date from {{ incremental_state_table(state, model_name) }}
        where source_id = '{{ source_id }}'
    )
    or exists (select 1 from {{ incremental_state_table(state, model_name) }} where source_id = '*'))
{%- endmacro %}


{# Post-hook of every incremental fact: what this run read is now what the table was built from. #}
{% macro incremental_mark_built() -%}
    create or replace table {{ incremental_state_table('built') }} as select * from {{ incremental_state_table('seen') }}
{%- endmacro %}


{# Incremental strategy 'replace_partitions': delete the rows the predicates select (the partitions
   this run replaces), then insert the rebuilt rows. Unlike delete+insert on a key, a partition that
   lost rows, or an instruction that moved to another day, leaves nothing stale behind. #}
{% macro get_incremental_replace_partitions_sql(arg_dict) -%}
    {%- set target, source = arg_dict['target_relation'], arg_dict['temp_relation'] -%}
    {%- set predicates = arg_dict['incremental_predicates'] -%}
    {%- if not predicates -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'replace_partitions' needs incremental_predicates: which rows of "
            ~ target ~ " the rebuilt rows replace") }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} where {{ predicates | join(' and ') }};
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ source }}
{%- endmacro %}


{# fct_dispatch: the SO instructions this run rebuilds, from all their versions (a revision can move
   an instruction to another day's partition): every instruction with a version in a changed partition
   now, or whose row in force came from a changed partition (it may have lost that version). Written to
   incremental_state."fct_dispatch__instructions" before the model runs. #}
{% macro plan_replaced_instructions(plan) -%}
    {%- if execute and flags.WHICH in ('run', 'build') -%}
        {%- call statement('incremental_instructions') -%}
            create or replace table {{ incremental_state_table('instructions') }} as
            select instruction_id from {{ ref('stg_so_dispatch_instructions__instructions') }}
            where {{ rebuilt_partitions(plan, 'so_dispatch_instructions') }}
            {%- if is_incremental() %}
            union
            select dispatch_id from {{ this }}
            where source_id = 'so_dispatch_instructions'
                and {{ rebuilt_partitions(plan, 'so_dispatch_instructions') }}
            {%- endif %}
        {%- endcall -%}
    {%- endif -%}
{%- endmacro %}


{% macro replaced_instructions() -%}
    (dispatch_id in (select instruction_id from {{ incremental_state_table('instructions', 'fct_dispatch') }})
    or exists (select 1 from {{ incremental_state_table('changes', 'fct_dispatch') }} where source_id = '*'))
{%- endmacro %}


{# dbt's should_full_refresh, plus: an incremental fact without state (built before it was incremental,
   e.g. a lake from an earlier release, or its state dropped) is rebuilt from scratch — a table of the
   old shape is replaced, not appended to. #}
{% macro should_full_refresh() -%}
    {%- set config_full_refresh = config.get('full_refresh') -%}
    {%- if config_full_refresh is none -%}
        {%- set config_full_refresh = flags.FULL_REFRESH -%}
    {%- endif -%}
    {%- if not config_full_refresh and execute and model.resource_type == 'model'
        and config.get('incremental_strategy') == 'replace_partitions'
        and not _state_exists(model.name ~ '__built') -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(config_full_refresh) }}
{%- endmacro %}
