-- Within every region, asset type, size band and year of mart_asset_value, the stacked totals hold
-- exactly the per-product revenue: sum over assets of stacked net GBP/MW = sum over products of the
-- per-product sum (mean x assets). Returns the groups that differ.
with by_kind as (
    select
        region,
        asset_type,
        size_band,
        year,
        sum(case when row_kind = 'product' then net_gbp_per_mw_mean * n_assets else 0 end) as products_sum,
        sum(case when row_kind = 'stacked_total' then net_gbp_per_mw_mean * n_assets else 0 end) as stacked_sum,
        sum(case when row_kind = 'product' and n_assets > n_comparable_assets then 1 else 0 end) as too_many_assets
    from {{ ref('mart_asset_value') }}
    group by region, asset_type, size_band, year
)

select *
from by_kind
where abs(products_sum - stacked_sum) > 0.001 * (1 + abs(stacked_sum))
    or too_many_assets > 0
