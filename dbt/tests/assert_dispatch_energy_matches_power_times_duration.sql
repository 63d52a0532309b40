-- Utilisation energy is MW x hours as rounded by the publisher (2 dp, sometimes coarser: real UKPN
-- rows show 0.063 MW x 1.5 h published as 0.1 MWh), so allow 0.01 MWh. Returns mismatches.
select dispatch_id, power_mw, energy_mwh, start_utc, end_utc
from {{ ref('fct_dispatch') }}
where energy_mwh is not null
    and power_mw is not null
    and abs(energy_mwh - power_mw * {{ dbt.datediff('start_utc', 'end_utc', 'minute') }} / 60.0) > 0.01
