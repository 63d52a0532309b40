-- Bids sheet (one row per bid; a later workbook's row replaced earlier ones in the raw layer).
with source as (
    select * from {{ source('raw', 'dno_flex_competitions') }}
    where record_type = 'bid'
),

renamed as (
    select
        bid_id,
        competition_id,
        company_name,
        asset_ref,
        offered_mw,
        availability_price_gbp_per_mw_h,
        utilisation_price_gbp_per_mwh,
        submitted_local as submitted_utc,
        lower(status) as status,
        sheet_row,
        source_file,
        source_row,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
