with dispatches as (
    select * from {{ ref('stg_ukpn_flexibility_dispatches__dispatches') }}
),

products as (
    select * from {{ ref('int_source_products_mapped') }}
    where source_id = 'ukpn_flexibility_dispatches'
)

select
    -- Identity of a dispatch = its normalised content, so a re-released row keeps its id.
    {{ dbt.hash(dbt.concat([
        "'ukpn_flexibility_dispatches|'", "lower(dispatches.company_name)", "'|'", "dispatches.flexible_unit_id",
        "'|'", "dispatches.standard_product_key", "'|'", "cast(dispatches.start_utc as varchar)",
        "'|'", "cast(dispatches.end_utc as varchar)",
        "'|'", "coalesce(cast(dispatches.availability_mw as varchar), '')",
        "'|'", "coalesce(cast(dispatches.utilisation_mw as varchar), '')",
        "'|'", "coalesce(cast(dispatches.availability_price_gbp_per_mw_h as varchar), '')",
        "'|'", "coalesce(cast(dispatches.utilisation_price_gbp_per_mwh as varchar), '')",
        "'|'", "coalesce(cast(dispatches.availability_mwh as varchar), '')",
        "'|'", "coalesce(cast(dispatches.utilisation_mwh as varchar), '')"
    ])) }} as dispatch_id,
    products.market_id,
    products.product_id,
    {{ slugify('dispatches.company_name') }} as participant_id,
    cast(null as varchar) as asset_id,
    dispatches.flexible_unit_id as source_asset_ref,
    dispatches.start_utc,
    dispatches.end_utc,
    dispatches.utilisation_mw as power_mw,
    dispatches.utilisation_mwh as energy_mwh,
    dispatches.utilisation_price_gbp_per_mwh,
    dispatches.availability_price_gbp_per_mw_h,
    case
        when dispatches.dispatch_type in ('demand_turn_down', 'generation_turn_up') then 'up'
        when dispatches.dispatch_type in ('demand_turn_up', 'generation_turn_down') then 'down'
    end as direction,
    dispatches.dispatch_method as instruction_source,
    'ukpn_flexibility_dispatches' as source_id,
    dispatches.company_name as participant_name,
    dispatches.flex_zone,
    dispatches.availability_mw,
    dispatches.availability_mwh,
    dispatches.technology_source_value,
    dispatches.dispatch_type,
    dispatches.duration_h,
    dispatches.source_file,
    dispatches.source_row
from dispatches
inner join products
    on dispatches.product_source_value = products.source_value
