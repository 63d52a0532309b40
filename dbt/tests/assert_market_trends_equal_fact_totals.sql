-- mart_market_trends totals equal the fact totals per product and month (and its day rows add up to
-- its month rows): NESO EAC unit results (MW and MWh cleared), dispatches (MW and MWh instructed) and
-- accepted DNO contracts (MW per service day, MW x daily window hours), recomputed from fct_*. Returns
-- the product-months that differ.
with trends as (
    select
        activity,
        product_id,
        period_start as month,
        sum(record_count) as records,
        sum(volume_mw) as volume_mw,
        sum(volume_mwh) as volume_mwh
    from {{ ref('mart_market_trends') }}
    where period_grain = 'month'
    group by 1, 2, 3
),

trend_days as (
    select
        activity,
        product_id,
        cast({{ dbt.date_trunc('month', 'period_start') }} as date) as month,
        sum(record_count) as records,
        sum(volume_mw) as volume_mw,
        sum(volume_mwh) as volume_mwh
    from {{ ref('mart_market_trends') }}
    where period_grain = 'day'
    group by 1, 2, 3
),

service_days as (
    select distinct settlement_date as service_date from {{ ref('dim_settlement_period') }}
),

facts as (
    select
        'auction_result' as activity,
        product_id,
        cast({{ dbt.date_trunc('month', 'delivery_start_utc') }} as date) as month,
        count(*) as records,
        sum(executed_volume_mw) as volume_mw,
        sum(executed_volume_mwh) as volume_mwh
    from {{ ref('fct_auction_unit_result') }}
    group by 1, 2, 3

    union all

    select
        'dispatch',
        product_id,
        cast({{ dbt.date_trunc('month', 'start_utc') }} as date),
        count(*),
        sum(power_mw),
        sum(energy_mwh)
    from {{ ref('fct_dispatch') }}
    group by 1, 2, 3

    union all

    select
        'contract',
        b.product_id,
        cast({{ dbt.date_trunc('month', 'd.service_date') }} as date),
        count(*),
        sum(b.offered_mw),
        sum(b.offered_mw * (
            {{ minutes_of_day('b.window_end_local') }} - {{ minutes_of_day('b.window_start_local') }}
            + case when b.window_end_local <= b.window_start_local then 1440 else 0 end
        ) / 60.0)
    from {{ ref('fct_bid') }} as b
    inner join service_days as d
        on d.service_date >= b.service_start_date
        and d.service_date <= b.service_end_date
        and (coalesce(b.days_of_week, 'Mon-Sun') <> 'Mon-Fri' or {{ weekday_index('d.service_date') }} < 5)
    where b.status = 'accepted'
    group by 1, 2, 3
),

compared as (
    select
        coalesce(f.activity, t.activity) as activity,
        coalesce(f.product_id, t.product_id) as product_id,
        coalesce(f.month, t.month) as month,
        f.records as fact_records,
        t.records as trend_records,
        f.volume_mw as fact_volume_mw,
        t.volume_mw as trend_volume_mw,
        f.volume_mwh as fact_volume_mwh,
        t.volume_mwh as trend_volume_mwh,
        d.records as day_records,
        d.volume_mwh as day_volume_mwh
    from facts as f
    full outer join trends as t
        on f.activity = t.activity
        and f.product_id = t.product_id
        and f.month = t.month
    left join trend_days as d
        on d.activity = coalesce(f.activity, t.activity)
        and d.product_id = coalesce(f.product_id, t.product_id)
        and d.month = coalesce(f.month, t.month)
)

select *
from compared
where coalesce(fact_records, 0) <> coalesce(trend_records, 0)
    or coalesce(day_records, 0) <> coalesce(trend_records, 0)
    or abs(coalesce(fact_volume_mw, 0) - coalesce(trend_volume_mw, 0)) > 0.001 * (1 + abs(coalesce(fact_volume_mw, 0)))
    or abs(coalesce(fact_volume_mwh, 0) - coalesce(trend_volume_mwh, 0)) > 0.001 * (1 + abs(coalesce(fact_volume_mwh, 0)))
    or abs(coalesce(day_volume_mwh, 0) - coalesce(trend_volume_mwh, 0)) > 0.001 * (1 + abs(coalesce(trend_volume_mwh, 0)))
