-- mart_asset_performance adds up to the facts it summarises: settlement money and MWh, dispatched
-- energy, NESO EAC committed MW x h and accepted DNO contract MW x h (recomputed here from the service
-- days of every accepted bid). Returns the measures that differ by more than rounding.
with mart as (
    select
        sum(total_gbp) as total_gbp,
        sum(availability_payment_gbp) as availability_payment_gbp,
        sum(penalty_gbp) as penalty_gbp,
        sum(dispatched_mwh) as dispatched_mwh,
        sum(case when market_id = 'neso_eac' then won_mw_h else 0 end) as eac_won_mw_h,
        sum(case when market_id not in ('neso_eac', 'ukpn_flex') then coalesce(won_mw_h, 0) else 0 end)
            as dno_won_mw_h
    from {{ ref('mart_asset_performance') }}
),

facts as (
    select
        (select sum(total_gbp) from {{ ref('fct_settlement') }}) as total_gbp,
        (select sum(availability_payment_gbp) from {{ ref('fct_settlement') }}) as availability_payment_gbp,
        (select sum(penalty_gbp) from {{ ref('fct_settlement') }}) as penalty_gbp,
        (select sum(energy_mwh) from {{ ref('fct_dispatch') }} where power_mw <> 0) as dispatched_mwh,
        (select sum(executed_volume_mwh) from {{ ref('fct_auction_unit_result') }}) as eac_won_mw_h,
        (
            select sum(b.offered_mw * (
                {{ minutes_of_day('b.window_end_local') }} - {{ minutes_of_day('b.window_start_local') }}
                + case when b.window_end_local <= b.window_start_local then 1440 else 0 end
            ) / 60.0)
            from {{ ref('fct_bid') }} as b
            inner join (select distinct settlement_date from {{ ref('dim_settlement_period') }}) as d
                on d.settlement_date between b.service_start_date and b.service_end_date
                and (coalesce(b.days_of_week, 'Mon-Sun') <> 'Mon-Fri' or {{ weekday_index('d.settlement_date') }} < 5)
            where b.status = 'accepted'
        ) as dno_won_mw_h
)

select 'total_gbp' as measure, mart.total_gbp as mart_value, facts.total_gbp as fact_value
from mart cross join facts where abs(coalesce(mart.total_gbp, 0) - coalesce(facts.total_gbp, 0)) > 0.01
union all
select 'availability_payment_gbp', mart.availability_payment_gbp, facts.availability_payment_gbp
from mart cross join facts
where abs(coalesce(mart.availability_payment_gbp, 0) - coalesce(facts.availability_payment_gbp, 0)) > 0.01
union all
select 'penalty_gbp', mart.penalty_gbp, facts.penalty_gbp
from mart cross join facts where abs(coalesce(mart.penalty_gbp, 0) - coalesce(facts.penalty_gbp, 0)) > 0.01
union all
select 'dispatched_mwh', mart.dispatched_mwh, facts.dispatched_mwh
from mart cross join facts where abs(coalesce(mart.dispatched_mwh, 0) - coalesce(facts.dispatched_mwh, 0)) > 0.001
union all
select 'eac_won_mw_h', mart.eac_won_mw_h, facts.eac_won_mw_h
from mart cross join facts where abs(coalesce(mart.eac_won_mw_h, 0) - coalesce(facts.eac_won_mw_h, 0)) > 0.001
union all
select 'dno_won_mw_h', mart.dno_won_mw_h, facts.dno_won_mw_h
from mart cross join facts where abs(coalesce(mart.dno_won_mw_h, 0) - coalesce(facts.dno_won_mw_h, 0)) > 0.001
