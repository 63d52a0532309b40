-- total_gbp of every settlement line = availability + utilisation - penalty, within GBP 0.01.
-- Returns the lines that differ.
select
    settlement_id,
    availability_payment_gbp,
    utilisation_payment_gbp,
    penalty_gbp,
    total_gbp
from {{ ref('fct_settlement') }}
where abs(
    total_gbp
    - (coalesce(availability_payment_gbp, 0) + coalesce(utilisation_payment_gbp, 0) - coalesce(penalty_gbp, 0))
) > 0.01 + 1e-6
