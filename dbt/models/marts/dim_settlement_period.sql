-- GB settlement periods: half hours numbered from 1 within each Europe/London local day, so a
-- day has 46 periods on the spring clock change and 50 in autumn. Derived from UTC instants and the
-- tz database, never from fixed offsets.
with half_hours as (
    select unnest(generate_series(
        cast('{{ var("settlement_calendar_start") }}' as date) - interval 1 day,
        cast('{{ var("settlement_calendar_end") }}' as date) + interval 2 day,
        interval 30 minute
    )) as naive_utc
),

instants as (
    select
        timezone('UTC', naive_utc) as start_utc,
        timezone('UTC', naive_utc + interval 30 minute) as end_utc
    from half_hours
),

local_days as (
    select
        start_utc,
        end_utc,
        cast(timezone('Europe/London', start_utc) as date) as settlement_date
    from instants
)

select
    settlement_date,
    cast(row_number() over (partition by settlement_date order by start_utc) as integer) as settlement_period,
    start_utc,
    end_utc,
    cast(count(*) over (partition by settlement_date) as integer) as periods_in_day
from local_days
where settlement_date between cast('{{ var("settlement_calendar_start") }}' as date)
    and cast('{{ var("settlement_calendar_end") }}' as date)
