-- Every dispatch and settlement line resolves to a product (dim_product) and a physical asset
-- (dim_asset). Returns the rows that do not.
select 'fct_dispatch' as fact, f.dispatch_id as id, f.product_id, f.asset_id
from {{ ref('fct_dispatch') }} as f
left join {{ ref('dim_product') }} as p on f.product_id = p.product_id
left join {{ ref('dim_asset') }} as a on f.asset_id = a.asset_id
where p.product_id is null or a.asset_id is null

union all

select 'fct_settlement', f.settlement_id, f.product_id, f.asset_id
from {{ ref('fct_settlement') }} as f
left join {{ ref('dim_product') }} as p on f.product_id = p.product_id
left join {{ ref('dim_asset') }} as a on f.asset_id = a.asset_id
where p.product_id is null or a.asset_id is null
