-- Half-hourly metered energy per asset (the volume source for delivery checks). Lean on purpose: it
-- is the largest table (millions of rows); lineage stays in the raw layer. Incremental: a run rebuilds
-- only the days whose raw partition changed (a reading's day is the UTC day of its start, so a re-read
-- replaces the reading in the same day), and every day when the MPAN -> asset mapping changed.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_partitions',
    incremental_predicates=[replaced_partitions('fct_metering', 'meter_readings')],
    on_schema_change='fail',
    post_hook="{{ incremental_mark_built() }}",
    meta={'incremental_test_scope': replaced_partitions('fct_metering', 'meter_readings', state='untested')},
) }}

{%- set meters_sql -%}
    select source_asset_ref as mpan, asset_id
    from {{ ref('int_asset_crosswalk') }}
    where ref_type = 'mpan'
{%- endset -%}
{%- set plan = plan_incremental(['meter_readings'], lookups=[meters_sql]) %}

with readings as (
    select * from {{ ref('stg_meter_readings__readings') }}
    where {{ rebuilt_partitions(plan, 'meter_readings') }}
),

meters as (
    {{ meters_sql }}
)

select
    meters.asset_id,
    readings.start_utc,
    readings.end_utc,
    readings.import_mwh,
    readings.export_mwh,
    readings.mpan,
    readings.quality,
    readings.partition_date
from readings
left join meters
    on readings.mpan = meters.mpan
