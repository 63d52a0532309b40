with source as (
    select * from {{ source('raw', 'elexon_system_prices') }}
),

renamed as (
    select
        interval_start_utc as start_utc,
        interval_end_utc as end_utc,
        "settlementDate" as settlement_date,
        cast("settlementPeriod" as integer) as settlement_period,
        "createdDateTime" as created_utc,
        "systemSellPrice" as system_sell_price_gbp_per_mwh,
        "systemBuyPrice" as system_buy_price_gbp_per_mwh,
        "bsadDefaulted" as is_bsad_defaulted,
        "priceDerivationCode" as price_derivation_code,
        "reserveScarcityPrice" as reserve_scarcity_price_gbp_per_mwh,
        "replacementPrice" as replacement_price_gbp_per_mwh,
        "netImbalanceVolume" as net_imbalance_volume_mwh,
        "totalAcceptedOfferVolume" as total_accepted_offer_volume_mwh,
        "totalAcceptedBidVolume" as total_accepted_bid_volume_mwh,
        source_file,
        source_row
    from source
)

select * from renamed
