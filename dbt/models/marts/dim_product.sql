-- Every product of every market: the taxonomy's products, the products system operators registered
-- that are live or retired (registry snapshot; drafts and products in consultation are not offered
-- yet), and placeholders for source values the taxonomy does not map yet.
with taxonomy_products as (
    select * from {{ ref('products') }}
),

standard_products as (
    select * from {{ ref('standard_products') }}
),

markets as (
    select market_id, operator_id from {{ ref('markets') }}
),

-- A registered product whose id the taxonomy already uses is left out (assert_registry_products_are_distinct
-- reports it): the taxonomy's definition stays authoritative.
registered_products as (
    select r.*
    from {{ ref('stg_registry__products') }} as r
    left join taxonomy_products as t
        on r.product_id = t.product_id
    where r.status in ('live', 'retired')
        and t.product_id is null
),

-- Spellings that normalise alike share one placeholder: name it by the first spelling.
unmapped_products as (
    select
        product_id,
        min(market_id) as market_id,
        min(source_value) as product_name
    from {{ ref('int_source_products_mapped') }}
    where not is_mapped
    group by product_id
),

products as (
    select
        t.product_id,
        t.market_id,
        t.product_name,
        t.service_type,
        t.direction,
        t.standard_product,
        true as is_mapped,
        'taxonomy' as product_source,
        markets.operator_id,
        cast(null as varchar) as product_status,
        cast(null as varchar) as zones,
        cast(null as double) as min_size_mw,
        cast(null as double) as response_time_s,
        cast(null as double) as min_duration_min,
        cast(null as double) as availability_price_gbp_per_mw_h,
        cast(null as double) as utilisation_price_gbp_per_mwh,
        cast(null as timestamp with time zone) as live_from_utc,
        cast(null as timestamp with time zone) as retired_at_utc
    from taxonomy_products as t
    left join markets
        on t.market_id = markets.market_id

    union all

    select
        product_id,
        market_id,
        product_name,
        service_type,
        direction,
        coalesce(standard_product, 'unmapped') as standard_product,
        standard_product is not null as is_mapped,
        'registry' as product_source,
        operator_id,
        status as product_status,
        zones,
        min_size_mw,
        response_time_s,
        min_duration_min,
        availability_price_gbp_per_mw_h,
        utilisation_price_gbp_per_mwh,
        live_from_utc,
        retired_at_utc
    from registered_products

    union all

    select
        u.product_id,
        u.market_id,
        u.product_name,
        cast(null as varchar) as service_type,
        cast(null as varchar) as direction,
        'unmapped' as standard_product,
        false as is_mapped,
        'unmapped_source_value' as product_source,
        markets.operator_id,
        cast(null as varchar) as product_status,
        cast(null as varchar) as zones,
        cast(null as double) as min_size_mw,
        cast(null as double) as response_time_s,
        cast(null as double) as min_duration_min,
        cast(null as double) as availability_price_gbp_per_mw_h,
        cast(null as double) as utilisation_price_gbp_per_mwh,
        cast(null as timestamp with time zone) as live_from_utc,
        cast(null as timestamp with time zone) as retired_at_utc
    from unmapped_products as u
    left join markets
        on u.market_id = markets.market_id
)

select
    cast(products.product_id as varchar) as product_id,
    cast(products.market_id as varchar) as market_id,
    cast(products.product_name as varchar) as product_name,
    cast(products.service_type as varchar) as service_type,
    cast(products.direction as varchar) as direction,
    cast(products.standard_product as varchar) as standard_product,
    cast(coalesce(
        standard_products.standard_product_name,
        case when products.product_source = 'registry' then 'Not mapped to a standard product' else 'Unmapped source value' end
    ) as varchar) as standard_product_name,
    cast(products.is_mapped as boolean) as is_mapped,
    cast(products.product_source as varchar) as product_source,
    cast(products.operator_id as varchar) as operator_id,
    cast(products.product_status as varchar) as product_status,
    cast(products.zones as varchar) as zones,
    cast(products.min_size_mw as double) as min_size_mw,
    cast(products.response_time_s as double) as response_time_s,
    cast(products.min_duration_min as double) as min_duration_min,
    cast(products.availability_price_gbp_per_mw_h as double) as availability_price_gbp_per_mw_h,
    cast(products.utilisation_price_gbp_per_mwh as double) as utilisation_price_gbp_per_mwh,
    products.live_from_utc,
    products.retired_at_utc
from products
left join standard_products
    on products.standard_product = standard_products.standard_product
