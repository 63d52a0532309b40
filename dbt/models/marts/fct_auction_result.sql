with results as (
    select * from {{ ref('stg_neso_eac_results__auction_results') }}
),

products as (
    select * from {{ ref('int_source_products_mapped') }}
    where source_id = 'neso_eac_results' and field = 'auctionProduct'
)

select
    {{ dbt.hash(dbt.concat(["'neso_eac_results|'", "results.auction_id", "'|'", "results.auction_product_code", "'|'", "cast(results.delivery_start_utc as varchar)"])) }}
        as auction_result_id,
    products.market_id,
    products.product_id,
    results.auction_id,
    results.delivery_start_utc,
    results.delivery_end_utc,
    results.cleared_volume_mw,
    results.clearing_price_gbp_per_mw_h,
    'neso_eac_results' as source_id,
    results.auction_product_code,
    results.service_type,
    {{ dbt.datediff('results.delivery_start_utc', 'results.delivery_end_utc', 'minute') }} / 60.0 as duration_h,
    results.cleared_volume_mw
        * {{ dbt.datediff('results.delivery_start_utc', 'results.delivery_end_utc', 'minute') }} / 60.0
        as cleared_volume_mwh,
    results.source_file,
    results.source_row
from results
inner join products
    on results.auction_product_code = products.source_value
