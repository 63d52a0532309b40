with taxonomy_products as (
    select * from {{ ref('products') }}
),

standard_products as (
    select * from {{ ref('standard_products') }}
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
        product_id,
        market_id,
        product_name,
        service_type,
        direction,
        standard_product,
        true as is_mapped
    from taxonomy_products

    union all

    select
        product_id,
        market_id,
        product_name,
        cast(null as varchar) as service_type,
        cast(null as varchar) as direction,
        'unmapped' as standard_product,
        false as is_mapped
    from unmapped_products
)

select
    cast(products.product_id as varchar) as product_id,
    cast(products.market_id as varchar) as market_id,
    cast(products.product_name as varchar) as product_name,
    cast(products.service_type as varchar) as service_type,
    cast(products.direction as varchar) as direction,
    cast(products.standard_product as varchar) as standard_product,
    cast(coalesce(standard_products.standard_product_name, 'Unmapped source value') as varchar)
        as standard_product_name,
    cast(products.is_mapped as boolean) as is_mapped
from products
left join standard_products
    on products.standard_product = standard_products.standard_product
