-- Competitions sheet. service_start_utc/service_end_utc = the service envelope (first service day at
-- the window start to the last service day at the window end, localised from Europe/London by the
-- connector); the daily window itself stays in local wall-clock time (window_*_local).
with source as (
    select * from {{ source('raw', 'dno_flex_competitions') }}
    where record_type = 'competition'
),

renamed as (
    select
        competition_id,
        operator_id,
        dno as dno_name,
        upper(licence_area) as licence_area,
        zone as flex_zone,
        product as product_source_value,
        lower(direction) as direction,
        service_start_date,
        service_end_date,
        days_of_week,
        cast(window_start_local as time) as window_start_local,
        cast(window_end_local as time) as window_end_local,
        interval_start_utc as service_start_utc,
        interval_end_utc as service_end_utc,
        required_mw,
        ceiling_availability_price_gbp_per_mw_h,
        ceiling_utilisation_price_gbp_per_mwh,
        opens_local as opens_utc,
        closes_local as closes_utc,
        lower(status) as competition_status,
        sheet_row,
        source_file,
        source_row,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
