-- Half-hourly readings per MPAN in MWh (the connector converts kWh / 1000). Kept lean: this is the
-- largest source (millions of rows).
with source as (
    select * from {{ source('raw', 'meter_readings') }}
),

renamed as (
    select
        mpan,
        interval_start_utc as start_utc,
        interval_end_utc as end_utc,
        cast(import_mwh as double) as import_mwh,
        cast(export_mwh as double) as export_mwh,
        quality,
        partition_date
    from source
)

select * from renamed
