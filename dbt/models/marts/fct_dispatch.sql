-- Dispatches from every source: UKPN's published flexibility dispatches, and the dispatch
-- instructions SOs send (NESO reserve utilisation, DNO competition contracts) that are in force
-- (latest issued_at) and not cancelled. dispatch_id is unique across sources: a content hash for UKPN
-- rows (a re-released row keeps its id), the SO's instruction_id for instructions.
-- Incremental: a run rebuilds the UKPN rows of the days whose raw partition changed (a dispatch's day
-- is the local day of its start, part of its id), and every instruction with a version in a changed
-- SO partition, from all its versions; every row when a lookup (products, operators, competitions,
-- crosswalk) changed.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_partitions',
    incremental_predicates=[
        "((source_id = 'ukpn_flexibility_dispatches' and "
        ~ replaced_partitions('fct_dispatch', 'ukpn_flexibility_dispatches') ~ ")"
        ~ " or (source_id = 'so_dispatch_instructions' and "
        ~ replaced_instructions() ~ "))"
    ],
    on_schema_change='fail',
    post_hook="{{ incremental_mark_built() }}",
) }}

{%- set products_sql -%}
    select source_id, field, operator_id, source_value, market_id, product_id
    from {{ ref('int_source_products_mapped') }}
    where source_id in ('ukpn_flexibility_dispatches', 'so_dispatch_instructions') and field = 'product'
{%- endset -%}
{%- set operators_sql -%}
    select operator_id, asset_ref_type from {{ ref('operators') }}
{%- endset -%}
{%- set competitions_sql -%}
    select competition_id, flex_zone from {{ ref('stg_dno_flex_competitions__competitions') }}
{%- endset -%}
{%- set crosswalk_sql -%}
    select identity_key, asset_id from {{ ref('int_asset_crosswalk') }}
{%- endset -%}
{%- set plan = plan_incremental(
    ['ukpn_flexibility_dispatches', 'so_dispatch_instructions'],
    lookups=[products_sql, operators_sql, competitions_sql, crosswalk_sql],
) -%}
{%- do plan_replaced_instructions(plan) %}

with ukpn as (
    select * from {{ ref('stg_ukpn_flexibility_dispatches__dispatches') }}
    where {{ rebuilt_partitions(plan, 'ukpn_flexibility_dispatches') }}
),

-- The raw layer supersedes revisions within a day; a revision that moved the instruction to another
-- day sits in another partition, so the version in force is chosen here again (latest issued_at),
-- before dropping cancelled ones.
instruction_versions as (
    select
        *,
        row_number() over (
            partition by instruction_id order by issued_at_utc desc, source_file desc, source_row desc
        ) as version_rank
    from {{ ref('stg_so_dispatch_instructions__instructions') }}
    {%- if not plan['all'] %}
    where instruction_id in (select instruction_id from {{ incremental_state_table('instructions') }})
    {%- endif %}
),

instructions as (
    select * from instruction_versions
    where version_rank = 1 and status = 'instructed'
),

products as (
    {{ products_sql }}
),

operators as (
    {{ operators_sql }}
),

competitions as (
    {{ competitions_sql }}
),

crosswalk as (
    {{ crosswalk_sql }}
),

ukpn_dispatches as (
    select
        -- Identity of a dispatch = its normalised content, so a re-released row keeps its id.
        {{ dbt.hash(dbt.concat([
            "'ukpn_flexibility_dispatches|'", "lower(ukpn.company_name)", "'|'", "ukpn.flexible_unit_id",
            "'|'", "ukpn.standard_product_key", "'|'", "cast(ukpn.start_utc as varchar)",
            "'|'", "cast(ukpn.end_utc as varchar)",
            "'|'", "coalesce(cast(ukpn.availability_mw as varchar), '')",
            "'|'", "coalesce(cast(ukpn.utilisation_mw as varchar), '')",
            "'|'", "coalesce(cast(ukpn.availability_price_gbp_per_mw_h as varchar), '')",
            "'|'", "coalesce(cast(ukpn.utilisation_price_gbp_per_mwh as varchar), '')",
            "'|'", "coalesce(cast(ukpn.availability_mwh as varchar), '')",
            "'|'", "coalesce(cast(ukpn.utilisation_mwh as varchar), '')"
        ])) }} as dispatch_id,
        products.market_id,
        products.product_id,
        {{ participant_id('ukpn.company_name') }} as participant_id,
        crosswalk.asset_id,
        ukpn.flexible_unit_id as source_asset_ref,
        ukpn.start_utc,
        ukpn.end_utc,
        ukpn.utilisation_mw as power_mw,
        ukpn.utilisation_mwh as energy_mwh,
        ukpn.utilisation_price_gbp_per_mwh,
        ukpn.availability_price_gbp_per_mw_h,
        case
            when ukpn.dispatch_type in ('demand_turn_down', 'generation_turn_up') then 'up'
            when ukpn.dispatch_type in ('demand_turn_up', 'generation_turn_down') then 'down'
        end as direction,
        ukpn.dispatch_method as instruction_source,
        'ukpn_flexibility_dispatches' as source_id,
        ukpn.company_name as participant_name,
        ukpn.flex_zone,
        ukpn.availability_mw,
        ukpn.availability_mwh,
        ukpn.technology_source_value,
        ukpn.dispatch_type,
        ukpn.duration_h,
        'ukpn' as operator_id,
        cast(null as varchar) as contract_ref,
        cast(null as varchar) as competition_id,
        cast(null as timestamp with time zone) as issued_at_utc,
        cast(null as varchar) as reason_code,
        cast(null as varchar) as rationale,
        cast(null as integer) as merit_order_rank,
        cast(null as integer) as cheaper_offers_skipped,
        ukpn.source_file,
        ukpn.source_row,
        ukpn.partition_date
    from ukpn
    inner join products
        on products.source_id = 'ukpn_flexibility_dispatches'
        and products.field = 'product'
        and products.operator_id = 'ukpn'
        and coalesce(ukpn.product_source_value, '') = products.source_value
    left join crosswalk
        on crosswalk.identity_key
        = {{ asset_identity_key("'ukpn_fu_id'", "'ukpn'", 'ukpn.flexible_unit_id') }}
),

so_dispatches as (
    select
        i.instruction_id as dispatch_id,
        products.market_id,
        products.product_id,
        {{ participant_id('i.participant_name') }} as participant_id,
        crosswalk.asset_id,
        i.asset_ref as source_asset_ref,
        i.start_utc,
        i.end_utc,
        i.setpoint_mw as power_mw,
        i.setpoint_mw * {{ dbt.datediff('i.start_utc', 'i.end_utc', 'second') }} / 3600.0 as energy_mwh,
        i.utilisation_price_gbp_per_mwh,
        cast(null as double) as availability_price_gbp_per_mw_h,
        i.direction,
        i.operator_id as instruction_source,
        'so_dispatch_instructions' as source_id,
        i.participant_name,
        competitions.flex_zone,
        cast(null as double) as availability_mw,
        cast(null as double) as availability_mwh,
        cast(null as varchar) as technology_source_value,
        cast(null as varchar) as dispatch_type,
        {{ dbt.datediff('i.start_utc', 'i.end_utc', 'second') }} / 3600.0 as duration_h,
        i.operator_id,
        i.contract_ref,
        i.competition_id,
        i.issued_at_utc,
        i.reason_code,
        i.rationale,
        i.merit_order_rank,
        i.cheaper_offers_skipped,
        i.source_file,
        i.source_row,
        i.partition_date
    from instructions as i
    inner join products
        on products.source_id = 'so_dispatch_instructions'
        and products.field = 'product'
        and i.operator_id = products.operator_id
        and coalesce(i.product_source_value, '') = products.source_value
    left join operators
        on i.operator_id = operators.operator_id
    left join competitions
        on i.competition_id = competitions.competition_id
    left join crosswalk
        on crosswalk.identity_key = {{ asset_identity_key(
            'operators.asset_ref_type', ref_namespace('operators.asset_ref_type', 'i.operator_id'), 'i.asset_ref'
        ) }}
)

select * from ukpn_dispatches
union all
select * from so_dispatches
