{# Portable calendar helpers (dbt cross-database macros and ANSI SQL only, so the dim/fct layer can
   move to another adapter). #}

{# Day of the week of a date: 0 = Monday ... 6 = Sunday (days since Monday 2018-01-01, modulo 7). #}
{% macro weekday_index(date_expr) -%}
    mod({{ dbt.datediff("cast('2018-01-01' as date)", date_expr, 'day') }} + 7000000, 7)
{%- endmacro %}

{# Minutes since midnight of a wall-clock time value. #}
{% macro minutes_of_day(time_expr) -%}
    (extract(hour from {{ time_expr }}) * 60 + extract(minute from {{ time_expr }}))
{%- endmacro %}

{# A naive timestamp that holds a UTC wall clock, as an instant (timestamp with time zone). The
   warehouse session runs in UTC (profiles.yml), so the cast keeps the wall clock. #}
{% macro utc_instant(naive_utc_expr) -%}
    {{ return(adapter.dispatch('utc_instant', 'sfe')(naive_utc_expr)) }}
{%- endmacro %}

{% macro default__utc_instant(naive_utc_expr) -%}
    cast({{ naive_utc_expr }} as timestamp with time zone)
{%- endmacro %}

{# The UTC offset periods of a tz database zone over [first_year, last_year] as a SQL relation
   (valid_from_utc, valid_to_utc, utc_offset_minutes), computed at compile time from the tz database
   (pytz, which dbt ships) so the SQL needs no time-zone support from the warehouse. Offsets change on
   the half hour at most; each day is checked at 00:00 UTC and, where the offset moves during the day,
   the exact half hour is found. #}
{% macro tz_offset_periods(zone_name, first_year, last_year) -%}
    {%- set dt = modules.datetime -%}
    {%- set zone = modules.pytz.timezone(zone_name) -%}
    {%- set utc = modules.pytz.utc -%}
    {%- set first = dt.datetime(first_year, 1, 1, tzinfo=utc) -%}
    {%- set last = dt.datetime(last_year + 1, 1, 1, tzinfo=utc) -%}
    {%- set half_hour = dt.timedelta(minutes=30) -%}
    {%- set ns = namespace(offset=None, since=first, periods=[]) -%}
    {%- set ns.offset = (first.astimezone(zone).utcoffset().total_seconds() // 60) | int -%}
    {%- for day in range(((last - first).days) + 1) -%}
        {%- set midnight = first + dt.timedelta(days=day) -%}
        {%- set day_offset = ((midnight + dt.timedelta(days=1)).astimezone(zone).utcoffset().total_seconds() // 60) | int -%}
        {%- if day_offset != ns.offset and midnight < last -%}
            {%- for step in range(1, 49) -%}
                {%- set instant = midnight + half_hour * step -%}
                {%- set step_offset = (instant.astimezone(zone).utcoffset().total_seconds() // 60) | int -%}
                {%- if step_offset != ns.offset -%}
                    {%- do ns.periods.append((ns.since, instant, ns.offset)) -%}
                    {%- set ns.since = instant -%}
                    {%- set ns.offset = step_offset -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do ns.periods.append((ns.since, last, ns.offset)) -%}
    {%- for valid_from, valid_to, offset in ns.periods %}
    select
        cast('{{ valid_from.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }}) as valid_from_utc,
        cast('{{ valid_to.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }}) as valid_to_utc,
        {{ offset }} as utc_offset_minutes
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{# One row per UTC day a window [start, end) touches, as a select-list expression that multiplies its row
   (e.g. to join windows per day instead of over all history). Set-returning functions differ by
   warehouse; this is DuckDB's (the session runs in UTC, so the casts give UTC days). An empty window
   gives no row. #}
{% macro utc_days_touched(start_expr, end_expr) -%}
    {{ return(adapter.dispatch('utc_days_touched', 'sfe')(start_expr, end_expr)) }}
{%- endmacro %}

{% macro default__utc_days_touched(start_expr, end_expr) -%}
    unnest(generate_series(
        cast({{ start_expr }} as date),
        cast(({{ end_expr }}) - interval 1 microsecond as date),
        interval 1 day
    ))
{%- endmacro %}
