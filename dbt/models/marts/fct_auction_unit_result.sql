-- Per-unit auction results (NESO EAC): which unit of which company cleared how many MW at what price
-- in each delivery window. The per-unit companion of fct_auction_result.
with results as (
    select * from {{ ref('stg_neso_eac_unit_results__unit_results') }}
),

products as (
    select * from {{ ref('int_source_products_mapped') }}
    where source_id = 'neso_eac_unit_results' and field = 'auctionProduct'
),

type_mappings as (
    select distinct {{ normalise_value('source_value') }} as value_key, target_value as asset_type
    from {{ ref('source_value_mappings') }}
    where source_id = 'neso_eac_unit_results' and field = 'technologyType' and target_kind = 'asset_type'
),

crosswalk as (
    select identity_key, asset_id from {{ ref('int_asset_crosswalk') }}
)

select
    {{ dbt.hash(dbt.concat([
        "'neso_eac_unit_results|'", "results.auction_id", "'|'", "results.auction_product_code",
        "'|'", "results.unit_name", "'|'", "cast(results.delivery_start_utc as varchar)"
    ])) }} as auction_unit_result_id,
    products.market_id,
    products.product_id,
    results.auction_id,
    results.unit_name,
    {{ participant_id('results.company_name') }} as participant_id,
    crosswalk.asset_id,
    results.delivery_start_utc,
    results.delivery_end_utc,
    results.executed_volume_mw,
    results.clearing_price_gbp_per_mw_h,
    results.company_name,
    results.technology_source_value as technology,
    case when results.technology_source_value is not null then coalesce(type_mappings.asset_type, 'other') end
        as asset_type,
    results.auction_product_code,
    results.service_type,
    {{ dbt.datediff('results.delivery_start_utc', 'results.delivery_end_utc', 'minute') }} / 60.0 as duration_h,
    results.executed_volume_mw
        * {{ dbt.datediff('results.delivery_start_utc', 'results.delivery_end_utc', 'minute') }} / 60.0
        as executed_volume_mwh,
    'neso_eac_unit_results' as source_id,
    results.source_file,
    results.source_row
from results
inner join products
    on results.operator_id = products.operator_id
    and results.auction_product_code = products.source_value
left join type_mappings
    on {{ normalise_value('results.technology_source_value') }} = type_mappings.value_key
left join crosswalk
    on crosswalk.identity_key = {{ asset_identity_key("'eac_unit_name'", "'neso'", 'results.unit_name') }}
