-- Half-hourly metered energy per asset (the volume source for delivery checks). Lean on purpose: it
-- is the largest table (millions of rows); lineage stays in the raw layer.
with readings as (
    select * from {{ ref('stg_meter_readings__readings') }}
),

meters as (
    select source_asset_ref as mpan, asset_id
    from {{ ref('int_asset_crosswalk') }}
    where ref_type = 'mpan'
)

select
    meters.asset_id,
    readings.start_utc,
    readings.end_utc,
    readings.import_mwh,
    readings.export_mwh,
    readings.mpan,
    readings.quality
from readings
left join meters
    on readings.mpan = meters.mpan
