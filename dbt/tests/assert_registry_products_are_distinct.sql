{{ config(severity='warn') }}
-- A product registered in the registry under an id the taxonomy already uses is not added to
-- dim_product (the taxonomy's product stays). Warns with the clashing ids so the SO can rename theirs.
select r.product_id, r.status, t.market_id as taxonomy_market_id
from {{ ref('stg_registry__products') }} as r
inner join {{ ref('products') }} as t
    on r.product_id = t.product_id
where r.status in ('live', 'retired')
