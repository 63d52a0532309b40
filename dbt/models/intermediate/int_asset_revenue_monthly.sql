-- Revenue of every asset per product and month (UTC), from the best record available:
--   settlement   fct_settlement lines in force, when the asset has any for the product in the month
--                (what the SO actually paid, penalties deducted);
--   market_records otherwise what the markets published or instructed: NESO EAC cleared MW x hours x
--                clearing price, UKPN availability MWh x availability price and utilisation MWh x
--                utilisation price, other instructions' energy x utilisation price (no penalties known).
-- Also every month in which an accepted DNO contract covered a service day, with zero revenue when
-- nothing was paid: holding a product counts even when it earned nothing.
with settled as (
    select
        asset_id,
        product_id,
        cast({{ dbt.date_trunc('month', 'period_start_utc') }} as date) as month,
        sum(coalesce(availability_payment_gbp, 0)) as availability_gbp,
        sum(coalesce(utilisation_payment_gbp, 0)) as utilisation_gbp,
        sum(coalesce(penalty_gbp, 0)) as penalty_gbp
    from {{ ref('fct_settlement') }}
    where asset_id is not null
    group by 1, 2, 3
),

auction_records as (
    select
        asset_id,
        product_id,
        cast({{ dbt.date_trunc('month', 'delivery_start_utc') }} as date) as month,
        sum(executed_volume_mwh * clearing_price_gbp_per_mw_h) as availability_gbp,
        0.0 as utilisation_gbp
    from {{ ref('fct_auction_unit_result') }}
    where asset_id is not null
        and executed_volume_mw > 0
    group by 1, 2, 3
),

dispatch_records as (
    select
        asset_id,
        product_id,
        cast({{ dbt.date_trunc('month', 'start_utc') }} as date) as month,
        sum(coalesce(availability_mwh * availability_price_gbp_per_mw_h, 0)) as availability_gbp,
        sum(coalesce(energy_mwh * utilisation_price_gbp_per_mwh, 0)) as utilisation_gbp
    from {{ ref('fct_dispatch') }}
    where asset_id is not null
    group by 1, 2, 3
),

market_records as (
    select asset_id, product_id, month, sum(availability_gbp) as availability_gbp,
        sum(utilisation_gbp) as utilisation_gbp
    from (
        select * from auction_records
        union all
        select * from dispatch_records
    ) as records
    group by 1, 2, 3
),

service_days as (
    select distinct settlement_date as service_date from {{ ref('dim_settlement_period') }}
),

contract_months as (
    select distinct
        b.asset_id,
        b.product_id,
        cast({{ dbt.date_trunc('month', 'service_days.service_date') }} as date) as month
    from {{ ref('fct_bid') }} as b
    inner join service_days
        on service_days.service_date >= b.service_start_date
        and service_days.service_date <= b.service_end_date
        and (coalesce(b.days_of_week, 'Mon-Sun') <> 'Mon-Fri' or {{ weekday_index('service_days.service_date') }} < 5)
    where b.status = 'accepted'
        and b.asset_id is not null
),

keys as (
    select asset_id, product_id, month from settled
    union
    select asset_id, product_id, month from market_records
    union
    select asset_id, product_id, month from contract_months
)

select
    keys.asset_id,
    keys.product_id,
    keys.month,
    case
        when settled.asset_id is not null then 'settlement'
        when market_records.asset_id is not null then 'market_records'
        else 'contract_only'
    end as revenue_basis,
    coalesce(settled.availability_gbp, market_records.availability_gbp, 0) as availability_gbp,
    coalesce(settled.utilisation_gbp, market_records.utilisation_gbp, 0) as utilisation_gbp,
    coalesce(settled.penalty_gbp, 0) as penalty_gbp,
    coalesce(settled.availability_gbp, market_records.availability_gbp, 0)
        + coalesce(settled.utilisation_gbp, market_records.utilisation_gbp, 0)
        - coalesce(settled.penalty_gbp, 0) as net_gbp
from keys
left join settled
    on keys.asset_id = settled.asset_id
    and keys.product_id = settled.product_id
    and keys.month = settled.month
left join market_records
    on keys.asset_id = market_records.asset_id
    and keys.product_id = market_records.product_id
    and keys.month = market_records.month
