-- mart_der_positions holds every commitment and dispatch of the facts, once: per position_type the row
-- count and MW x hours equal those of the source facts (EAC windows with MW cleared, held DNO contract
-- windows, UKPN availability / utilisation rows, SO instructions in force, BM acceptances of known
-- units). Returns the position types that differ.
with positions as (
    select position_type, count(*) as n, sum(mw * duration_h) as mw_h
    from {{ ref('mart_der_positions') }}
    group by position_type
),

facts as (
    select 'eac_auction_win' as position_type, count(*) as n, sum(executed_volume_mwh) as mw_h
    from {{ ref('fct_auction_unit_result') }}
    where executed_volume_mw > 0

    union all

    select 'dno_contract', count(*),
        sum(held_mw * {{ dbt.datediff('window_start_utc', 'window_end_utc', 'second') }} / 3600.0)
    from {{ ref('int_obligation_holders_daily') }}
    where held_mw > 0

    union all

    select
        case
            when coalesce(power_mw, 0) = 0 then 'ukpn_availability'
            when source_id = 'ukpn_flexibility_dispatches' then 'ukpn_dispatch'
            else 'so_instruction'
        end,
        count(*),
        sum(case when coalesce(power_mw, 0) > 0 then power_mw else availability_mw end * duration_h)
    from {{ ref('fct_dispatch') }}
    where coalesce(power_mw, 0) > 0 or coalesce(availability_mw, 0) > 0
    group by 1

    union all

    select 'bm_acceptance', count(distinct a.bm_unit || '|' || cast(a.acceptance_number as varchar)), null
    from {{ ref('fct_bm_acceptance') }} as a
    inner join {{ ref('bridge_asset_source_id') }} as b
        on b.source_id = 'elexon_boalf' and b.ref_type = 'bm_unit' and b.source_asset_ref = a.bm_unit
)

select facts.position_type, facts.n as fact_rows, positions.n as position_rows, facts.mw_h, positions.mw_h
from facts
left join positions
    on facts.position_type = positions.position_type
where facts.n > 0
    and (
        positions.n is null
        or positions.n <> facts.n
        or (facts.mw_h is not null and abs(facts.mw_h - positions.mw_h) > 0.001 * (1 + abs(facts.mw_h)))
    )
