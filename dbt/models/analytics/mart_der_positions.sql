-- Positions and actions of every asset across markets (UC18): one row per asset and commitment or
-- dispatch interval [start_utc, end_utc), for a timeline of an asset, a zone or a day.
--   commitment  NESO EAC auction wins (each delivery window with MW cleared), DNO competition contracts
--               (each service-day window, with the unit holding the obligation then - resales applied,
--               int_obligation_holders_daily), UKPN scheduled availability windows;
--   dispatch    SO instructions in force (NESO reserve utilisation, DNO contracts), UKPN utilisation,
--               Balancing Mechanism bid-offer acceptances (NESO's; one row per acceptance, MW = the
--               largest level it sets).
-- Zone: where the activity says it is (the competition's or UKPN's zone), else the asset's; DNO area and
-- GSP group are the asset's. settlement_date = the GB local day the interval starts in (a row can run
-- into the next day: filter a day by overlap, start_utc < day end and end_utc > day start).
with assets as (
    select asset_id, asset_name, asset_type, size_band, owner_participant_id, flex_zone, dno_area, gsp_group
    from {{ ref('dim_asset') }}
),

products as (
    select product_id, standard_product, direction from {{ ref('dim_product') }}
),

markets as (
    select market_id, operator_id from {{ ref('dim_market') }}
),

eac_wins as (
    select
        auction_unit_result_id as position_id,
        'commitment' as position_kind,
        'eac_auction_win' as position_type,
        asset_id,
        participant_id,
        market_id,
        product_id,
        'neso' as operator_id,
        delivery_start_utc as start_utc,
        delivery_end_utc as end_utc,
        executed_volume_mw as mw,
        cast(null as varchar) as direction,
        cast(null as varchar) as flex_zone,
        clearing_price_gbp_per_mw_h as availability_price_gbp_per_mw_h,
        cast(null as double) as utilisation_price_gbp_per_mwh,
        {{ dbt.concat(["'EAC-'", 'auction_id', "'-'", 'auction_product_code']) }} as source_ref,
        source_id
    from {{ ref('fct_auction_unit_result') }}
    where executed_volume_mw > 0
),

dno_contracts as (
    select
        {{ dbt.concat([
            'obligation_id', "'|'", 'holder_source_asset_ref', "'|'", 'cast(window_start_utc as varchar)'
        ]) }} as position_id,
        'commitment' as position_kind,
        'dno_contract' as position_type,
        holder_asset_id as asset_id,
        holder_participant_id as participant_id,
        market_id,
        product_id,
        operator_id,
        window_start_utc as start_utc,
        window_end_utc as end_utc,
        held_mw as mw,
        direction,
        flex_zone,
        availability_price_gbp_per_mw_h,
        utilisation_price_gbp_per_mwh,
        coalesce(resale_id, obligation_id) as source_ref,
        'dno_flex_competitions' as source_id
    from {{ ref('int_obligation_holders_daily') }}
    where held_mw > 0
),

dispatch_rows as (
    select
        dispatch_id as position_id,
        case when coalesce(power_mw, 0) > 0 then 'dispatch' else 'commitment' end as position_kind,
        case
            when coalesce(power_mw, 0) = 0 then 'ukpn_availability'
            when source_id = 'ukpn_flexibility_dispatches' then 'ukpn_dispatch'
            else 'so_instruction'
        end as position_type,
        asset_id,
        participant_id,
        market_id,
        product_id,
        operator_id,
        start_utc,
        end_utc,
        case when coalesce(power_mw, 0) > 0 then power_mw else availability_mw end as mw,
        direction,
        flex_zone,
        availability_price_gbp_per_mw_h,
        utilisation_price_gbp_per_mwh,
        coalesce(contract_ref, dispatch_id) as source_ref,
        source_id
    from {{ ref('fct_dispatch') }}
    where coalesce(power_mw, 0) > 0 or coalesce(availability_mw, 0) > 0
),

bm_units as (
    select source_asset_ref as bm_unit, asset_id
    from {{ ref('bridge_asset_source_id') }}
    where source_id = 'elexon_boalf'
        and ref_type = 'bm_unit'
),

bm_acceptances as (
    select
        {{ dbt.concat(['a.bm_unit', "'|'", 'cast(a.acceptance_number as varchar)']) }} as position_id,
        'dispatch' as position_kind,
        'bm_acceptance' as position_type,
        bm_units.asset_id,
        cast(null as varchar) as participant_id,
        'neso_bm' as market_id,
        'neso_bm_boa' as product_id,
        'neso' as operator_id,
        min(a.time_from_utc) as start_utc,
        max(a.time_to_utc) as end_utc,
        max(case when abs(a.level_from_mw) > abs(a.level_to_mw) then abs(a.level_from_mw) else abs(a.level_to_mw) end)
            as mw,
        cast(null as varchar) as direction,
        cast(null as varchar) as flex_zone,
        cast(null as double) as availability_price_gbp_per_mw_h,
        cast(null as double) as utilisation_price_gbp_per_mwh,
        cast(a.acceptance_number as varchar) as source_ref,
        'elexon_boalf' as source_id
    from {{ ref('fct_bm_acceptance') }} as a
    inner join bm_units
        on a.bm_unit = bm_units.bm_unit
    group by a.bm_unit, a.acceptance_number, bm_units.asset_id
),

positions as (
    select * from eac_wins
    union all
    select * from dno_contracts
    union all
    select * from dispatch_rows
    union all
    select * from bm_acceptances
),

-- The settlement period an interval starts in gives its GB local day.
periods as (
    select settlement_date, start_utc from {{ ref('dim_settlement_period') }}
),

positioned as (
    select
        positions.*,
        -- Start of the half hour the interval starts in.
        {{ dbt.dateadd(
            'minute',
            "case when extract(minute from positions.start_utc) >= 30 then 30 else 0 end",
            dbt.date_trunc('hour', 'positions.start_utc')
        ) }} as start_half_hour_utc
    from positions
    where positions.asset_id is not null
        and positions.end_utc > positions.start_utc
)

select
    p.position_id,
    p.position_kind,
    p.position_type,
    p.asset_id,
    assets.asset_name,
    assets.asset_type,
    assets.size_band,
    coalesce(p.participant_id, assets.owner_participant_id) as participant_id,
    p.market_id,
    p.product_id,
    products.standard_product,
    coalesce(p.operator_id, markets.operator_id) as operator_id,
    p.start_utc,
    p.end_utc,
    {{ dbt.datediff('p.start_utc', 'p.end_utc', 'second') }} / 3600.0 as duration_h,
    periods.settlement_date,
    p.mw,
    coalesce(p.direction, products.direction) as direction,
    coalesce(p.flex_zone, assets.flex_zone) as flex_zone,
    assets.dno_area,
    assets.gsp_group,
    p.availability_price_gbp_per_mw_h,
    p.utilisation_price_gbp_per_mwh,
    p.source_ref,
    p.source_id
from positioned as p
inner join assets
    on p.asset_id = assets.asset_id
left join products
    on p.product_id = products.product_id
left join markets
    on p.market_id = markets.market_id
left join periods
    on periods.start_utc = p.start_half_hour_utc
