with acceptances as (
    select * from {{ ref('stg_elexon_boalf__acceptances') }}
)

select
    bm_unit,
    acceptance_number,
    acceptance_time_utc,
    time_from_utc,
    time_to_utc,
    level_from_mw,
    level_to_mw,
    so_flag,
    stor_flag,
    national_grid_bm_unit,
    settlement_date,
    settlement_period_from,
    settlement_period_to,
    deemed_bo_flag,
    rr_flag,
    amendment_flag,
    -- Energy of the segment if the unit follows the target linearly from levelFrom to levelTo.
    (level_from_mw + level_to_mw) / 2.0
        * {{ dbt.datediff('time_from_utc', 'time_to_utc', 'second') }} / 3600.0 as segment_energy_mwh,
    source_file,
    source_row
from acceptances
