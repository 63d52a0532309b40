with source as (
    select * from {{ source('raw', 'elexon_boalf') }}
),

renamed as (
    select
        interval_start_utc as time_from_utc,
        interval_end_utc as time_to_utc,
        "bmUnit" as bm_unit,
        "nationalGridBmUnit" as national_grid_bm_unit,
        "acceptanceNumber" as acceptance_number,
        "acceptanceTime" as acceptance_time_utc,
        "settlementDate" as settlement_date,
        cast("settlementPeriodFrom" as integer) as settlement_period_from,
        cast("settlementPeriodTo" as integer) as settlement_period_to,
        "levelFrom" as level_from_mw,
        "levelTo" as level_to_mw,
        "soFlag" as so_flag,
        "storFlag" as stor_flag,
        "deemedBoFlag" as deemed_bo_flag,
        "rrFlag" as rr_flag,
        "amendmentFlag" as amendment_flag,
        source_file,
        source_row
    from source
)

select * from renamed
