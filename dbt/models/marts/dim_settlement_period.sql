-- GB settlement periods: half hours numbered from 1 within each Europe/London local day, so a
-- day has 46 periods on the spring clock change and 50 in autumn. The UTC offset of every half hour
-- comes from the tz database (tz_offset_periods, evaluated when dbt compiles), never from a fixed
-- offset; the SQL itself is portable (dbt cross-database macros, no time-zone functions).
{%- set first_day = modules.datetime.date.fromisoformat(var("settlement_calendar_start")) %}
{%- set last_day = modules.datetime.date.fromisoformat(var("settlement_calendar_end")) %}
{%- set scan_from = first_day - modules.datetime.timedelta(days=1) %}
{%- set half_hour_count = ((last_day - scan_from).days + 3) * 48 %}
with numbers as (
    {{ dbt.generate_series(half_hour_count) }}
),

offsets as (
    {{ tz_offset_periods('Europe/London', scan_from.year, last_day.year + 1) }}
),

half_hours as (
    select
        {{ dbt.dateadd(
            'minute',
            '30 * (generated_number - 1)',
            "cast('" ~ scan_from.isoformat() ~ " 00:00:00' as " ~ dbt.type_timestamp() ~ ")"
        ) }} as start_naive_utc
    from numbers
),

local_half_hours as (
    select
        half_hours.start_naive_utc,
        offsets.utc_offset_minutes,
        {{ dbt.dateadd('minute', 'offsets.utc_offset_minutes', 'half_hours.start_naive_utc') }} as start_local
    from half_hours
    inner join offsets
        on half_hours.start_naive_utc >= offsets.valid_from_utc
        and half_hours.start_naive_utc < offsets.valid_to_utc
),

local_days as (
    select
        cast(start_local as date) as settlement_date,
        start_naive_utc,
        start_local,
        utc_offset_minutes
    from local_half_hours
)

select
    settlement_date,
    cast(row_number() over (partition by settlement_date order by start_naive_utc) as integer) as settlement_period,
    {{ utc_instant('start_naive_utc') }} as start_utc,
    {{ utc_instant(dbt.dateadd('minute', 30, 'start_naive_utc')) }} as end_utc,
    cast(count(*) over (partition by settlement_date) as integer) as periods_in_day,
    start_local,
    cast(utc_offset_minutes as integer) as utc_offset_minutes
from local_days
where settlement_date >= cast('{{ first_day.isoformat() }}' as date)
    and settlement_date <= cast('{{ last_day.isoformat() }}' as date)
