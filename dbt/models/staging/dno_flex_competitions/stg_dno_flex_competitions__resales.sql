-- Resales sheet: won contracts resold between FSPs (secondary market, UC27).
with source as (
    select * from {{ source('raw', 'dno_flex_competitions') }}
    where record_type = 'resale'
),

renamed as (
    select
        resale_id,
        original_bid_id,
        competition_id,
        seller_company,
        seller_asset_ref,
        buyer_company,
        buyer_asset_ref,
        resold_mw,
        start_local as start_utc,
        end_local as end_utc,
        price_gbp_per_mw_h,
        agreed_local as agreed_utc,
        sheet_row,
        source_file,
        source_row,
        source_file_sha256,
        ingested_at
    from source
)

select * from renamed
