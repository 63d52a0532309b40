{#- Eligibility (UC9) of every registered asset and asset group for every live product, as judged by
    the rules engine. dbt cannot call Python while it builds, so the Dagster asset raw/registry_eligibility
    (sfe.rules.snapshot) writes the verdicts to lake/raw/registry_eligibility/eligibility.parquet before
    the build; this model adds whether the product has market data. Until that file exists (a lake whose
    registry was never judged) the mart is empty rather than failing the build: the file check runs when
    the model is built (DuckDB's glob()). -#}
{%- set snapshot = source('raw', 'registry_eligibility') -%}
{%- set snapshot_present = false -%}
{%- if execute -%}
    {%- set path = env_var('SFE_LAKE_DIR') ~ '/raw/registry_eligibility/eligibility.parquet' -%}
    {%- set found = run_query("select count(*) from glob('" ~ (path | replace("'", "''")) ~ "')").columns[0].values()[0] -%}
    {%- set snapshot_present = found > 0 -%}
{%- endif %}

with verdicts as (
{%- if snapshot_present %}
    select
        subject_kind,
        subject_id,
        organisation_id,
        dno_area,
        member_count,
        capacity_mw,
        product_id,
        product_name,
        market_id,
        operator_id,
        product_source,
        verdict,
        reasons,
        warnings,
        missing_fields,
        rules_checked,
        evaluated_at
    from {{ snapshot }}
{%- else %}
    -- no eligibility snapshot yet: an empty table of the same columns
    select
        cast(null as varchar) as subject_kind,
        cast(null as varchar) as subject_id,
        cast(null as bigint) as organisation_id,
        cast(null as varchar) as dno_area,
        cast(null as integer) as member_count,
        cast(null as double) as capacity_mw,
        cast(null as varchar) as product_id,
        cast(null as varchar) as product_name,
        cast(null as varchar) as market_id,
        cast(null as varchar) as operator_id,
        cast(null as varchar) as product_source,
        cast(null as varchar) as verdict,
        cast(null as varchar) as reasons,
        cast(null as varchar) as warnings,
        cast(null as varchar) as missing_fields,
        cast(null as integer) as rules_checked,
        cast(null as timestamp with time zone) as evaluated_at
    where 1 = 0
{%- endif %}
),

products_with_data as (
    select product_id from {{ ref('fct_auction_result') }}
    union
    select product_id from {{ ref('fct_dispatch') }}
)

select
    v.subject_kind,
    v.subject_id,
    cast(v.organisation_id as bigint) as organisation_id,
    v.dno_area,
    cast(v.member_count as integer) as member_count,
    cast(v.capacity_mw as double) as capacity_mw,
    v.product_id,
    v.product_name,
    v.market_id,
    v.operator_id,
    v.product_source,
    v.verdict,
    v.reasons,
    v.warnings,
    v.missing_fields,
    cast(v.rules_checked as integer) as rules_checked,
    d.product_id is not null as product_has_data,
    cast(v.evaluated_at as timestamp with time zone) as evaluated_at
from verdicts as v
left join products_with_data as d on d.product_id = v.product_id
