with prices as (
    select * from {{ ref('stg_elexon_system_prices__system_prices') }}
)

select
    settlement_date,
    settlement_period,
    start_utc,
    system_sell_price_gbp_per_mwh,
    system_buy_price_gbp_per_mwh,
    net_imbalance_volume_mwh,
    end_utc,
    price_derivation_code,
    reserve_scarcity_price_gbp_per_mwh,
    total_accepted_offer_volume_mwh,
    total_accepted_bid_volume_mwh,
    created_utc,
    source_file,
    source_row
from prices
