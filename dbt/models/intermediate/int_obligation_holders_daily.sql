-- Every service window of every DNO competition obligation with the unit that holds it then: one row per
-- obligation, service day (Europe/London, per days_of_week) and holder. The daily window
-- [window_start_local, window_end_local) is localised to UTC for that day (a window ending at or before its
-- start ends the next day); when the holder changes inside a window, each holder gets its part.
-- Local wall-clock times are localised through dim_settlement_period (the UTC offset of the half hour they
-- fall in; an autumn-ambiguous time takes the first, BST, occurrence), so the SQL needs no time zones.
with obligations as (
    select
        bid_id as obligation_id,
        service_start_date,
        service_end_date,
        days_of_week,
        window_start_local,
        window_end_local,
        availability_price_gbp_per_mw_h,
        utilisation_price_gbp_per_mwh,
        direction,
        flex_zone
    from {{ ref('fct_bid') }}
    where status = 'accepted'
),

periods as (
    select settlement_date, start_local, start_utc, utc_offset_minutes
    from {{ ref('dim_settlement_period') }}
),

calendar as (
    select distinct settlement_date as service_date
    from periods
),

service_days as (
    select
        o.*,
        calendar.service_date,
        {{ dbt.dateadd(
            'minute', minutes_of_day('o.window_start_local'),
            'cast(calendar.service_date as ' ~ dbt.type_timestamp() ~ ')'
        ) }} as local_start,
        {{ dbt.dateadd(
            'minute',
            minutes_of_day('o.window_end_local')
            ~ ' + case when o.window_end_local <= o.window_start_local then 1440 else 0 end',
            'cast(calendar.service_date as ' ~ dbt.type_timestamp() ~ ')'
        ) }} as local_end
    from obligations as o
    inner join calendar
        on calendar.service_date >= o.service_start_date
        and calendar.service_date <= o.service_end_date
        and (coalesce(o.days_of_week, 'Mon-Sun') <> 'Mon-Fri' or {{ weekday_index('calendar.service_date') }} < 5)
),

-- The UTC offset in force at a local wall-clock time: that of the last half hour starting at or before it
-- on that local day (the first such half hour when the clock went back).
local_offsets as (
    select
        d.obligation_id,
        d.service_date,
        d.local_start as local_time,
        'start' as edge,
        p.utc_offset_minutes,
        row_number() over (
            partition by d.obligation_id, d.service_date
            order by p.start_local desc, p.start_utc
        ) as pick
    from service_days as d
    inner join periods as p
        on p.settlement_date = cast(d.local_start as date)
        and p.start_local <= d.local_start

    union all

    select
        d.obligation_id,
        d.service_date,
        d.local_end,
        'end',
        p.utc_offset_minutes,
        row_number() over (
            partition by d.obligation_id, d.service_date
            order by p.start_local desc, p.start_utc
        )
    from service_days as d
    inner join periods as p
        on p.settlement_date = cast(d.local_end as date)
        and p.start_local <= d.local_end
),

windows as (
    select
        d.*,
        {{ utc_instant(dbt.dateadd('minute', '-s.utc_offset_minutes', 'd.local_start')) }} as window_start_utc,
        {{ utc_instant(dbt.dateadd('minute', '-e.utc_offset_minutes', 'd.local_end')) }} as window_end_utc
    from service_days as d
    inner join local_offsets as s
        on d.obligation_id = s.obligation_id and d.service_date = s.service_date
        and s.edge = 'start' and s.pick = 1
    inner join local_offsets as e
        on d.obligation_id = e.obligation_id and d.service_date = e.service_date
        and e.edge = 'end' and e.pick = 1
)

select
    w.obligation_id,
    w.service_date,
    h.competition_id,
    h.operator_id,
    h.market_id,
    h.product_id,
    h.holder_participant_id,
    h.holder_participant_name,
    h.holder_asset_id,
    h.holder_source_asset_ref,
    h.holder_role,
    h.resale_id,
    h.held_mw,
    greatest(w.window_start_utc, h.valid_from_utc) as window_start_utc,
    least(w.window_end_utc, h.valid_to_utc) as window_end_utc,
    w.availability_price_gbp_per_mw_h,
    w.utilisation_price_gbp_per_mwh,
    w.direction,
    w.flex_zone
from windows as w
inner join {{ ref('int_obligation_holders') }} as h
    on w.obligation_id = h.obligation_id
    and h.valid_from_utc < w.window_end_utc
    and h.valid_to_utc > w.window_start_utc
