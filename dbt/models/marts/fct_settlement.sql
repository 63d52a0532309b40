-- Settlement lines in force (highest revision per statement_id + line_id; the raw layer supersedes
-- earlier revisions). The asset is the physical identity of the line's MPAN where the line gives one
-- (else the unit reference's asset). Incremental: a run rebuilds only the days whose raw partition
-- changed (revisions keep the settled period, so a revision replaces its line in the same day), and
-- every day when the product mapping or the asset crosswalk changed.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_partitions',
    incremental_predicates=[replaced_partitions('fct_settlement', 'so_settlement_statements')],
    on_schema_change='fail',
    post_hook="{{ incremental_mark_built() }}",
    meta={'incremental_test_scope': replaced_partitions('fct_settlement', 'so_settlement_statements', state='untested')},
) }}

{%- set products_sql -%}
    select operator_id, source_value, market_id, product_id
    from {{ ref('int_source_products_mapped') }}
    where source_id = 'so_settlement_statements' and field = 'product'
{%- endset -%}
{%- set crosswalk_sql -%}
    select identity_key, asset_id from {{ ref('int_asset_crosswalk') }}
{%- endset -%}
{%- set plan = plan_incremental(['so_settlement_statements'], lookups=[products_sql, crosswalk_sql]) %}

with lines as (
    select * from {{ ref('stg_so_settlement_statements__lines') }}
    where {{ rebuilt_partitions(plan, 'so_settlement_statements') }}
),

products as (
    {{ products_sql }}
),

crosswalk as (
    {{ crosswalk_sql }}
)

select
    {{ dbt.concat(['lines.statement_id', "'|'", 'lines.line_id']) }} as settlement_id,
    products.market_id,
    products.product_id,
    {{ participant_id('lines.participant_name') }} as participant_id,
    coalesce(by_mpan.asset_id, by_ref.asset_id) as asset_id,
    lines.period_start_utc,
    lines.period_end_utc,
    lines.availability_payment_gbp,
    lines.utilisation_payment_gbp,
    lines.penalty_gbp,
    lines.total_gbp,
    lines.statement_id,
    lines.line_id,
    lines.revision,
    lines.statement_date,
    lines.operator_id,
    lines.participant_name,
    lines.line_type,
    lines.contract_ref,
    lines.dispatch_ref,
    lines.mpan,
    lines.asset_ref as source_asset_ref,
    lines.asset_ref_type,
    lines.direction,
    lines.availability_mw,
    lines.availability_h,
    lines.availability_price_gbp_per_mw_h,
    lines.instructed_mwh,
    lines.delivered_mwh,
    lines.utilisation_price_gbp_per_mwh,
    lines.currency,
    'so_settlement_statements' as source_id,
    lines.source_file,
    lines.source_row,
    lines.partition_date
from lines
inner join products
    on lines.operator_id = products.operator_id
    and coalesce(lines.product_source_value, '') = products.source_value
left join crosswalk as by_mpan
    on by_mpan.identity_key = {{ asset_identity_key("'mpan'", "'gb'", 'lines.mpan') }}
left join crosswalk as by_ref
    on by_ref.identity_key = {{ asset_identity_key(
        'lines.asset_ref_type', ref_namespace('lines.asset_ref_type', 'lines.operator_id'), 'lines.asset_ref'
    ) }}
