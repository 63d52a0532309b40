with source as (
    select * from {{ source('raw', 'neso_eac_unit_results') }}
),

renamed as (
    select
        interval_start_utc as delivery_start_utc,
        interval_end_utc as delivery_end_utc,
        cast("auctionID" as varchar) as auction_id,
        upper("auctionProduct") as auction_product_code,
        "serviceType" as service_type,
        "unitName" as unit_name,
        "companyName" as company_name,
        "technologyType" as technology_source_value,
        cast("executedVolume" as double) as executed_volume_mw,
        cast("clearingPrice" as double) as clearing_price_gbp_per_mw_h,
        "source" as publication_label,
        'neso' as operator_id,
        source_file,
        source_row,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
