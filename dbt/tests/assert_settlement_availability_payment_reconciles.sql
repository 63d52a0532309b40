-- Availability payment of every settlement line = availability_mw x price x hours, within GBP 0.01
-- (the SO rounds to the penny; utilisation lines pay no availability). Returns the lines that differ.
select
    settlement_id,
    availability_mw,
    availability_price_gbp_per_mw_h,
    availability_h,
    availability_payment_gbp
from {{ ref('fct_settlement') }}
where abs(
    coalesce(availability_payment_gbp, 0)
    - coalesce(availability_mw * availability_price_gbp_per_mw_h * availability_h, 0)
) > 0.01 + 1e-6
