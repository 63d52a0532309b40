-- Trade, dispatch, delivery and settlement per asset x product x month (UC10), one row per
-- combination with any activity. Months are UTC calendar months of the window / dispatch / settlement
-- period start (DNO contracts: of the local service day).
--   offered / won   DNO competitions (fct_bid; withdrawn bids are not offers; won = accepted), NESO EAC
--                   unit results (what cleared; NESO does not publish offers), UKPN availability
--                   windows (fct_dispatch rows with availability MW). *_mw = largest MW at one time in
--                   the month (a unit's contracts of a product covering the month are added up);
--                   *_mw_h = MW x hours committed in the month.
--   dispatched      fct_dispatch: instructed energy (power x duration).
--   metered         int_dispatch_metered_delivery: what the meter shows, against a baseline; delivery_pct
--                   compares it with the instructed energy of the same (fully metered) dispatches.
--   settled         fct_settlement lines in force: SO-assessed instructed / delivered MWh and the money.
with assets as (
    select asset_id, asset_name, owner_participant_id, asset_type, size_band, capacity_mw, dno_area, flex_zone
    from {{ ref('dim_asset') }}
),

products as (
    select product_id, market_id, standard_product from {{ ref('dim_product') }}
),

service_days as (
    select distinct settlement_date as service_date from {{ ref('dim_settlement_period') }}
),

bids as (
    select
        bid_id,
        asset_id,
        product_id,
        status,
        offered_mw,
        service_start_date,
        service_end_date,
        days_of_week,
        -- The daily window in wall-clock hours; a window ending at or before its start ends the next day.
        (
            {{ minutes_of_day('window_end_local') }} - {{ minutes_of_day('window_start_local') }}
            + case when window_end_local <= window_start_local then 1440 else 0 end
        ) / 60.0 as window_h
    from {{ ref('fct_bid') }}
    where status <> 'withdrawn'
        and asset_id is not null
),

bid_months as (
    select
        bids.bid_id,
        bids.asset_id,
        bids.product_id,
        bids.status,
        bids.offered_mw,
        bids.window_h,
        cast({{ dbt.date_trunc('month', 'service_days.service_date') }} as date) as month,
        count(*) as service_days
    from bids
    inner join service_days
        on service_days.service_date >= bids.service_start_date
        and service_days.service_date <= bids.service_end_date
        and (coalesce(bids.days_of_week, 'Mon-Sun') <> 'Mon-Fri' or {{ weekday_index('service_days.service_date') }} < 5)
    group by 1, 2, 3, 4, 5, 6, 7
),

dno_contracts as (
    select
        asset_id,
        product_id,
        month,
        count(*) as bids,
        sum(offered_mw) as offered_mw,
        sum(offered_mw * window_h * service_days) as offered_mw_h,
        sum(case when status = 'accepted' then offered_mw else 0 end) as won_mw,
        sum(case when status = 'accepted' then offered_mw * window_h * service_days else 0 end) as won_mw_h
    from bid_months
    group by asset_id, product_id, month
),

eac_results as (
    select
        asset_id,
        product_id,
        cast({{ dbt.date_trunc('month', 'delivery_start_utc') }} as date) as month,
        cast(null as bigint) as bids,
        cast(null as double) as offered_mw,
        cast(null as double) as offered_mw_h,
        max(executed_volume_mw) as won_mw,
        sum(executed_volume_mwh) as won_mw_h
    from {{ ref('fct_auction_unit_result') }}
    where asset_id is not null
    group by 1, 2, 3
),

ukpn_availability as (
    select
        asset_id,
        product_id,
        cast({{ dbt.date_trunc('month', 'start_utc') }} as date) as month,
        cast(null as bigint) as bids,
        cast(null as double) as offered_mw,
        cast(null as double) as offered_mw_h,
        max(availability_mw) as won_mw,
        sum(coalesce(availability_mwh, availability_mw * duration_h)) as won_mw_h
    from {{ ref('fct_dispatch') }}
    where availability_mw is not null
        and asset_id is not null
    group by 1, 2, 3
),

commitments as (
    select * from dno_contracts
    union all
    select * from eac_results
    union all
    select * from ukpn_availability
),

dispatches as (
    select
        d.asset_id,
        d.product_id,
        cast({{ dbt.date_trunc('month', 'd.start_utc') }} as date) as month,
        count(*) as dispatches,
        sum(d.energy_mwh) as dispatched_mwh,
        sum(case when m.metering_complete then 1 else 0 end) as metered_dispatches,
        sum(case when m.metering_complete then d.energy_mwh end) as metered_dispatched_mwh,
        sum(case when m.metering_complete then m.metered_delivery_mwh end) as metered_delivery_mwh
    from {{ ref('fct_dispatch') }} as d
    left join {{ ref('int_dispatch_metered_delivery') }} as m
        on d.dispatch_id = m.dispatch_id
    where d.asset_id is not null
        and coalesce(d.power_mw, 0) <> 0
    group by 1, 2, 3
),

settlement as (
    select
        asset_id,
        product_id,
        cast({{ dbt.date_trunc('month', 'period_start_utc') }} as date) as month,
        count(*) as settlement_lines,
        sum(instructed_mwh) as settled_instructed_mwh,
        sum(delivered_mwh) as settled_delivered_mwh,
        sum(coalesce(availability_payment_gbp, 0)) as availability_payment_gbp,
        sum(coalesce(utilisation_payment_gbp, 0)) as utilisation_payment_gbp,
        sum(coalesce(penalty_gbp, 0)) as penalty_gbp,
        sum(coalesce(total_gbp, 0)) as total_gbp
    from {{ ref('fct_settlement') }}
    where asset_id is not null
    group by 1, 2, 3
),

keys as (
    select asset_id, product_id, month from commitments
    union
    select asset_id, product_id, month from dispatches
    union
    select asset_id, product_id, month from settlement
)

select
    keys.month,
    keys.asset_id,
    keys.product_id,
    products.market_id,
    products.standard_product,
    assets.asset_name,
    assets.owner_participant_id,
    assets.asset_type,
    assets.size_band,
    assets.capacity_mw,
    assets.dno_area,
    assets.flex_zone,
    cast(commitments.bids as bigint) as bids,
    commitments.offered_mw,
    commitments.offered_mw_h,
    commitments.won_mw,
    commitments.won_mw_h,
    cast(coalesce(dispatches.dispatches, 0) as bigint) as dispatches,
    coalesce(dispatches.dispatched_mwh, 0) as dispatched_mwh,
    cast(coalesce(dispatches.metered_dispatches, 0) as bigint) as metered_dispatches,
    dispatches.metered_dispatched_mwh,
    dispatches.metered_delivery_mwh,
    100.0 * dispatches.metered_delivery_mwh / nullif(dispatches.metered_dispatched_mwh, 0) as delivery_pct,
    settlement.settled_instructed_mwh,
    settlement.settled_delivered_mwh,
    100.0 * settlement.settled_delivered_mwh / nullif(settlement.settled_instructed_mwh, 0) as settled_delivery_pct,
    cast(coalesce(settlement.settlement_lines, 0) as bigint) as settlement_lines,
    coalesce(settlement.availability_payment_gbp, 0) as availability_payment_gbp,
    coalesce(settlement.utilisation_payment_gbp, 0) as utilisation_payment_gbp,
    coalesce(settlement.penalty_gbp, 0) as penalty_gbp,
    coalesce(settlement.total_gbp, 0) as total_gbp
from keys
inner join assets
    on keys.asset_id = assets.asset_id
left join products
    on keys.product_id = products.product_id
left join commitments
    on keys.asset_id = commitments.asset_id
    and keys.product_id = commitments.product_id
    and keys.month = commitments.month
left join dispatches
    on keys.asset_id = dispatches.asset_id
    and keys.product_id = dispatches.product_id
    and keys.month = dispatches.month
left join settlement
    on keys.asset_id = settlement.asset_id
    and keys.product_id = settlement.product_id
    and keys.month = settlement.month
