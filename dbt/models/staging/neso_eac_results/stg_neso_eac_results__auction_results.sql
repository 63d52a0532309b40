with source as (
    select * from {{ source('raw', 'neso_eac_results') }}
),

renamed as (
    select
        interval_start_utc as delivery_start_utc,
        interval_end_utc as delivery_end_utc,
        cast("auctionID" as varchar) as auction_id,
        upper("auctionProduct") as auction_product_code,
        "serviceType" as service_type,
        cast("clearedVolume" as double) as cleared_volume_mw,
        cast("clearingPrice" as double) as clearing_price_gbp_per_mw_h,
        cast("linkedServiceWindowID" as bigint) as linked_service_window_id,
        source_file,
        source_row,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
