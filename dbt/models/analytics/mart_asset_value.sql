-- Historic revenue per MW per year (UC8): what real assets of a type and size band earned, per product
-- and stacked across the products each asset actually held, as p10 / p50 / p90 across those assets.
-- Method (see the YAML description for the plain-words version):
--   1. int_asset_revenue_monthly: each asset's revenue per product and month - settlement lines where the
--      asset has any, else the published / instructed market records; accepted DNO contracts that paid
--      nothing count as held with zero revenue.
--   2. per asset x product x year: availability, utilisation, penalties, net; divided by the asset's
--      capacity_mw (dim_asset: registered, else SFE's estimate) = GBP per MW of the asset.
--   3. per asset x year: the same summed over the products it held = the stacked revenue.
--   4. percentiles across the assets of an asset type x size band, for GB and for each DNO area the
--      assets are located in (region), per product (row_kind = 'product') and stacked
--      (row_kind = 'stacked_total', product columns null). Assets without a capacity are left out.
with assets as (
    select asset_id, asset_type, size_band, capacity_mw, dno_area
    from {{ ref('dim_asset') }}
    where capacity_mw > 0
),

products as (
    select product_id, market_id, standard_product from {{ ref('dim_product') }}
),

revenue as (
    select
        r.*,
        cast(extract(year from r.month) as integer) as year
    from {{ ref('int_asset_revenue_monthly') }} as r
),

asset_product_years as (
    select
        revenue.asset_id,
        revenue.product_id,
        revenue.year,
        count(*) as months,
        sum(case when revenue.revenue_basis = 'settlement' then 1 else 0 end) as settled_months,
        sum(revenue.availability_gbp) / assets.capacity_mw as availability_gbp_per_mw,
        sum(revenue.utilisation_gbp) / assets.capacity_mw as utilisation_gbp_per_mw,
        sum(revenue.penalty_gbp) / assets.capacity_mw as penalty_gbp_per_mw,
        sum(revenue.net_gbp) / assets.capacity_mw as net_gbp_per_mw
    from revenue
    inner join assets
        on revenue.asset_id = assets.asset_id
    group by revenue.asset_id, revenue.product_id, revenue.year, assets.capacity_mw
),

asset_years as (
    select
        asset_id,
        year,
        count(*) as products_held,
        sum(months) as months,
        sum(settled_months) as settled_months,
        sum(availability_gbp_per_mw) as availability_gbp_per_mw,
        sum(utilisation_gbp_per_mw) as utilisation_gbp_per_mw,
        sum(penalty_gbp_per_mw) as penalty_gbp_per_mw,
        sum(net_gbp_per_mw) as net_gbp_per_mw
    from asset_product_years
    group by asset_id, year
),

-- Every asset counts for GB and for its own DNO area.
asset_regions as (
    select asset_id, asset_type, size_band, capacity_mw, 'GB' as region from assets
    union all
    select asset_id, asset_type, size_band, capacity_mw, dno_area as region from assets where dno_area is not null
),

-- Days of each year the warehouse holds market data for (a year at the edge of the data is partial).
data_days as (
    select year, count(*) as data_days
    from (
        select distinct cast(delivery_start_utc as date) as day, cast(extract(year from delivery_start_utc) as integer) as year
        from {{ ref('fct_auction_unit_result') }}
        union
        select distinct cast(period_start_utc as date), cast(extract(year from period_start_utc) as integer)
        from {{ ref('fct_settlement') }}
        union
        select distinct cast(start_utc as date), cast(extract(year from start_utc) as integer)
        from {{ ref('fct_dispatch') }}
    ) as days
    group by year
),

{% set distribution %}
        cast(count(*) as bigint) as n_assets,
        avg(r.capacity_mw) as avg_capacity_mw,
        percentile_cont(0.1) within group (order by x.availability_gbp_per_mw) as availability_gbp_per_mw_p10,
        percentile_cont(0.5) within group (order by x.availability_gbp_per_mw) as availability_gbp_per_mw_p50,
        percentile_cont(0.9) within group (order by x.availability_gbp_per_mw) as availability_gbp_per_mw_p90,
        percentile_cont(0.1) within group (order by x.utilisation_gbp_per_mw) as utilisation_gbp_per_mw_p10,
        percentile_cont(0.5) within group (order by x.utilisation_gbp_per_mw) as utilisation_gbp_per_mw_p50,
        percentile_cont(0.9) within group (order by x.utilisation_gbp_per_mw) as utilisation_gbp_per_mw_p90,
        avg(x.penalty_gbp_per_mw) as penalty_gbp_per_mw_mean,
        percentile_cont(0.1) within group (order by x.net_gbp_per_mw) as net_gbp_per_mw_p10,
        percentile_cont(0.5) within group (order by x.net_gbp_per_mw) as net_gbp_per_mw_p50,
        percentile_cont(0.9) within group (order by x.net_gbp_per_mw) as net_gbp_per_mw_p90,
        avg(x.net_gbp_per_mw) as net_gbp_per_mw_mean,
        1.0 * sum(x.settled_months) / sum(x.months) as settled_share
{% endset %}

product_rows as (
    select
        r.region,
        'product' as row_kind,
        r.asset_type,
        r.size_band,
        x.product_id,
        x.year,
        cast(null as double) as avg_products_held,
        {{ distribution }}
    from asset_product_years as x
    inner join asset_regions as r
        on x.asset_id = r.asset_id
    group by r.region, r.asset_type, r.size_band, x.product_id, x.year
),

stacked_rows as (
    select
        r.region,
        'stacked_total' as row_kind,
        r.asset_type,
        r.size_band,
        cast(null as varchar) as product_id,
        x.year,
        avg(x.products_held) as avg_products_held,
        {{ distribution }}
    from asset_years as x
    inner join asset_regions as r
        on x.asset_id = r.asset_id
    group by r.region, r.asset_type, r.size_band, x.year
),

all_rows as (
    select * from product_rows
    union all
    select * from stacked_rows
)

select
    all_rows.region,
    all_rows.row_kind,
    all_rows.asset_type,
    all_rows.size_band,
    all_rows.year,
    all_rows.product_id,
    products.market_id,
    products.standard_product,
    all_rows.n_assets,
    stacked.n_assets as n_comparable_assets,
    all_rows.avg_capacity_mw,
    all_rows.avg_products_held,
    all_rows.availability_gbp_per_mw_p10,
    all_rows.availability_gbp_per_mw_p50,
    all_rows.availability_gbp_per_mw_p90,
    all_rows.utilisation_gbp_per_mw_p10,
    all_rows.utilisation_gbp_per_mw_p50,
    all_rows.utilisation_gbp_per_mw_p90,
    all_rows.penalty_gbp_per_mw_mean,
    all_rows.net_gbp_per_mw_p10,
    all_rows.net_gbp_per_mw_p50,
    all_rows.net_gbp_per_mw_p90,
    all_rows.net_gbp_per_mw_mean,
    all_rows.settled_share,
    cast(coalesce(data_days.data_days, 0) as integer) as data_days,
    cast({{ dbt.datediff(
        "cast(cast(all_rows.year as varchar) || '-01-01' as date)",
        "cast(cast(all_rows.year + 1 as varchar) || '-01-01' as date)",
        'day'
    ) }} as integer) as year_days
from all_rows
inner join stacked_rows as stacked
    on all_rows.region = stacked.region
    and all_rows.asset_type = stacked.asset_type
    and all_rows.size_band = stacked.size_band
    and all_rows.year = stacked.year
left join products
    on all_rows.product_id = products.product_id
left join data_days
    on all_rows.year = data_days.year
