-- What the meter says each dispatch delivered: one row per dispatch of an asset that has a meter
-- (fct_metering). For every half hour the dispatch touches, delivery = the asset's metered net export
-- (export - import) minus its baseline, signed by the dispatch direction (up = more export / less
-- import). The baseline of a half hour is the mean net export of the same settlement period on the 5
-- most recent earlier days of the same kind (weekday / weekend) within 14 days when the asset had no
-- dispatch in that period and the reading is not missing. A half hour shared by several dispatches of
-- the asset is split between them by their minutes in it. metered_delivery_mwh is null unless every
-- half hour has a reading and a baseline (metering_complete).
with dispatches as (
    select dispatch_id, asset_id, direction, start_utc, end_utc
    from {{ ref('fct_dispatch') }}
    where asset_id is not null
        and start_utc < end_utc
),

periods as (
    select settlement_date, settlement_period, start_utc, end_utc
    from {{ ref('dim_settlement_period') }}
),

-- Assets with a meter: an MPAN the meter readings name.
metered_assets as (
    select distinct asset_id
    from {{ ref('bridge_asset_source_id') }}
    where source_id = 'meter_readings'
),

-- Every half hour a dispatch touches: from the half hour it starts in, as many as it spans (an equality
-- join with the calendar; dispatches are at most a week long).
dispatch_starts as (
    select
        d.*,
        {{ dbt.dateadd(
            'minute',
            "case when extract(minute from d.start_utc) >= 30 then 30 else 0 end",
            dbt.date_trunc('hour', 'd.start_utc')
        ) }} as first_half_hour_utc
    from dispatches as d
    inner join metered_assets as a
        on d.asset_id = a.asset_id
),

half_hour_steps as (
    {{ dbt.generate_series(7 * 48) }}
),

dispatch_periods as (
    select
        d.dispatch_id,
        d.asset_id,
        d.direction,
        p.settlement_date,
        p.settlement_period,
        p.start_utc,
        {{ dbt.datediff(
            'case when d.start_utc > p.start_utc then d.start_utc else p.start_utc end',
            'case when d.end_utc < p.end_utc then d.end_utc else p.end_utc end',
            'second'
        ) }} as overlap_s
    from dispatch_starts as d
    inner join half_hour_steps as step
        on 30 * (step.generated_number - 1) < {{ dbt.datediff('d.first_half_hour_utc', 'd.end_utc', 'minute') }}
    inner join periods as p
        on p.start_utc = {{ dbt.dateadd('minute', '30 * (step.generated_number - 1)', 'd.first_half_hour_utc') }}
    where p.start_utc < d.end_utc
),

-- Half hours in which the asset was dispatched: never part of a baseline.
dispatched_periods as (
    select asset_id, start_utc, sum(overlap_s) as dispatched_s
    from dispatch_periods
    group by asset_id, start_utc
),

day_offsets as (
    {{ dbt.generate_series(14) }}
),

-- The same settlement period on each of the 14 previous days, if that day is of the same kind.
candidate_days as (
    select
        dp.asset_id,
        dp.start_utc,
        dp.settlement_period,
        day_offsets.generated_number as days_back,
        cast({{ dbt.dateadd('day', '-1 * day_offsets.generated_number', 'dp.settlement_date') }} as date)
            as candidate_date,
        case when {{ weekday_index('dp.settlement_date') }} >= 5 then 1 else 0 end as is_weekend
    from (
        select distinct asset_id, settlement_date, settlement_period, start_utc
        from dispatch_periods
    ) as dp
    cross join day_offsets
),

baseline_candidates as (
    select
        c.asset_id,
        c.start_utc,
        c.days_back,
        earlier.start_utc as candidate_start_utc
    from candidate_days as c
    inner join periods as earlier
        on earlier.settlement_date = c.candidate_date
        and earlier.settlement_period = c.settlement_period
    where c.is_weekend = case when {{ weekday_index('c.candidate_date') }} >= 5 then 1 else 0 end
),

-- Only the readings this model looks at (fct_metering is by far the largest table).
needed_readings as (
    select asset_id, start_utc from dispatched_periods
    union
    select asset_id, candidate_start_utc from baseline_candidates
),

metering as (
    select m.asset_id, m.start_utc, m.import_mwh, m.export_mwh
    from {{ ref('fct_metering') }} as m
    inner join needed_readings as n
        on m.asset_id = n.asset_id
        and m.start_utc = n.start_utc
),

usable_candidates as (
    select
        c.asset_id,
        c.start_utc,
        m.export_mwh - m.import_mwh as net_export_mwh,
        row_number() over (partition by c.asset_id, c.start_utc order by c.days_back) as recency
    from baseline_candidates as c
    inner join metering as m
        on m.asset_id = c.asset_id
        and m.start_utc = c.candidate_start_utc
    left join dispatched_periods as busy
        on busy.asset_id = c.asset_id
        and busy.start_utc = c.candidate_start_utc
    where busy.asset_id is null
        and m.import_mwh is not null
        and m.export_mwh is not null
),

baselines as (
    select asset_id, start_utc, avg(net_export_mwh) as baseline_net_export_mwh, count(*) as baseline_days
    from usable_candidates
    where recency <= 5
    group by asset_id, start_utc
),

period_delivery as (
    select
        dp.dispatch_id,
        dp.start_utc,
        dp.overlap_s,
        -- This dispatch's share of the half hour when several dispatches of the asset overlap it.
        1.0 * dp.overlap_s / nullif(busy.dispatched_s, 0) as share,
        m.export_mwh - m.import_mwh as net_export_mwh,
        b.baseline_net_export_mwh,
        b.baseline_days,
        case when dp.direction = 'down' then -1 else 1 end as sign
    from dispatch_periods as dp
    inner join dispatched_periods as busy
        on busy.asset_id = dp.asset_id
        and busy.start_utc = dp.start_utc
    left join metering as m
        on m.asset_id = dp.asset_id
        and m.start_utc = dp.start_utc
    left join baselines as b
        on b.asset_id = dp.asset_id
        and b.start_utc = dp.start_utc
)

select
    dispatch_id,
    cast(count(*) as integer) as half_hours,
    cast(sum(case when net_export_mwh is not null and baseline_net_export_mwh is not null then 1 else 0 end) as integer)
        as half_hours_measured,
    min(baseline_days) as min_baseline_days,
    sum(share * net_export_mwh) as metered_net_export_mwh,
    sum(share * baseline_net_export_mwh) as baseline_net_export_mwh,
    case
        when count(*) = sum(case when net_export_mwh is not null and baseline_net_export_mwh is not null then 1 else 0 end)
            then sum(share * sign * (net_export_mwh - baseline_net_export_mwh))
    end as metered_delivery_mwh,
    count(*) = sum(case when net_export_mwh is not null and baseline_net_export_mwh is not null then 1 else 0 end)
        as metering_complete
from period_delivery
group by dispatch_id
