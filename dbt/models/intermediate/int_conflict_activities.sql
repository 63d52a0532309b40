-- Everything that commits or dispatches a physical asset, one row per activity, for conflict detection
-- (UC11). activity_class is 'commitment' (capacity held for an SO: EAC auction wins, UKPN scheduled
-- availability, DNO competition obligations of the unit holding them at the time) or 'dispatch' (an
-- instruction to deliver: NESO and DNO instructions in force, UKPN utilisation, BM acceptances).
-- Consecutive windows of one commitment (an EAC unit's windows of one auction and product; UKPN rows of one
-- unit, product and kind published half hour by half hour) are merged into one activity.
-- engagement_key names the contract behind an activity: a dispatch that exercises a commitment shares its
-- key (NESO: EAC-<auctionID>-<product> and unit; DNO: the bid and holding unit; UKPN: unit, product and
-- day), so the conflict is reported once, at the dispatch. activity_key is stable across rebuilds.
with products as (
    select product_id, direction from {{ ref('dim_product') }}
),

eac_windows as (
    select
        asset_id,
        unit_name,
        participant_id,
        market_id,
        product_id,
        {{ dbt.concat(["'EAC-'", 'auction_id', "'-'", 'auction_product_code']) }} as contract_ref,
        delivery_start_utc,
        delivery_end_utc,
        executed_volume_mw,
        case
            when lag(delivery_end_utc) over (
                partition by unit_name, auction_id, auction_product_code order by delivery_start_utc
            ) >= delivery_start_utc then 0
            else 1
        end as starts_block
    from {{ ref('fct_auction_unit_result') }}
    where asset_id is not null
        and (executed_volume_mw is null or executed_volume_mw > 0)
),

eac_blocks as (
    select
        *,
        sum(starts_block) over (
            partition by unit_name, contract_ref order by delivery_start_utc
            rows between unbounded preceding and current row
        ) as block_number
    from eac_windows
),

eac_commitments as (
    select
        'eac_commitment' as activity_type,
        'commitment' as activity_class,
        asset_id,
        unit_name as source_asset_ref,
        max(participant_id) as participant_id,
        'neso' as operator_id,
        market_id,
        product_id,
        contract_ref as source_ref,
        {{ dbt.concat(["'neso|'", 'contract_ref', "'|'", 'unit_name']) }} as engagement_key,
        min(delivery_start_utc) as start_utc,
        max(delivery_end_utc) as end_utc,
        max(executed_volume_mw) as power_mw,
        'neso_eac_unit_results' as source_id
    from eac_blocks
    group by asset_id, unit_name, market_id, product_id, contract_ref, block_number
),

instructions as (
    select
        case when operator_id = 'neso' then 'neso_instruction' else 'dno_instruction' end as activity_type,
        'dispatch' as activity_class,
        asset_id,
        source_asset_ref,
        participant_id,
        operator_id,
        market_id,
        product_id,
        dispatch_id as source_ref,
        {{ dbt.concat(['operator_id', "'|'", "coalesce(contract_ref, dispatch_id)", "'|'", 'source_asset_ref']) }}
            as engagement_key,
        start_utc,
        end_utc,
        power_mw,
        source_id
    from {{ ref('fct_dispatch') }}
    where source_id = 'so_dispatch_instructions'
),

ukpn_rows as (
    select
        case when coalesce(power_mw, 0) > 0 then 'ukpn_dispatch' else 'ukpn_availability' end as activity_type,
        asset_id,
        source_asset_ref,
        participant_id,
        market_id,
        product_id,
        start_utc,
        end_utc,
        case when coalesce(power_mw, 0) > 0 then power_mw else availability_mw end as power_mw
    from {{ ref('fct_dispatch') }}
    where source_id = 'ukpn_flexibility_dispatches'
        and (coalesce(power_mw, 0) > 0 or coalesce(availability_mw, 0) > 0)
),

ukpn_flagged as (
    select
        *,
        case
            when lag(end_utc) over (
                partition by source_asset_ref, product_id, activity_type order by start_utc, end_utc
            ) >= start_utc then 0
            else 1
        end as starts_block
    from ukpn_rows
),

ukpn_blocks as (
    select
        *,
        sum(starts_block) over (
            partition by source_asset_ref, product_id, activity_type order by start_utc, end_utc
            rows between unbounded preceding and current row
        ) as block_number
    from ukpn_flagged
),

ukpn as (
    select
        activity_type,
        case when activity_type = 'ukpn_dispatch' then 'dispatch' else 'commitment' end as activity_class,
        asset_id,
        source_asset_ref,
        max(participant_id) as participant_id,
        'ukpn' as operator_id,
        market_id,
        product_id,
        -- UKPN publishes no dispatch id: the unit and the start name a dispatch.
        {{ dbt.concat(['source_asset_ref', "' @ '", "cast(min(start_utc) as varchar)"]) }}
            as source_ref,
        {{ dbt.concat(["'ukpn|'", 'source_asset_ref', "'|'", 'product_id', "'|'",
                       "cast(cast(min(start_utc) as date) as varchar)"]) }} as engagement_key,
        min(start_utc) as start_utc,
        max(end_utc) as end_utc,
        max(power_mw) as power_mw,
        'ukpn_flexibility_dispatches' as source_id
    from ukpn_blocks
    group by activity_type, asset_id, source_asset_ref, market_id, product_id, block_number
),

obligations as (
    select
        'dno_obligation' as activity_type,
        'commitment' as activity_class,
        holder_asset_id as asset_id,
        holder_source_asset_ref as source_asset_ref,
        holder_participant_id as participant_id,
        operator_id,
        market_id,
        product_id,
        obligation_id as source_ref,
        {{ dbt.concat(['operator_id', "'|'", 'obligation_id', "'|'", 'holder_source_asset_ref']) }}
            as engagement_key,
        window_start_utc as start_utc,
        window_end_utc as end_utc,
        held_mw as power_mw,
        'dno_flex_competitions' as source_id
    from {{ ref('int_obligation_holders_daily') }}
),

bm_crosswalk as (
    select identity_key, asset_id from {{ ref('int_asset_crosswalk') }}
    where ref_type = 'bm_unit'
),

-- BM bid-offer acceptances are NESO's instructions (Elexon only settles them).
bm_acceptances as (
    select
        'bm_acceptance' as activity_type,
        'dispatch' as activity_class,
        bm_crosswalk.asset_id,
        a.bm_unit as source_asset_ref,
        cast(null as varchar) as participant_id,
        'neso' as operator_id,
        'neso_bm' as market_id,
        'neso_bm_boa' as product_id,
        {{ dbt.concat(['a.bm_unit', "' BOA '", 'a.acceptance_number']) }} as source_ref,
        {{ dbt.concat(["'neso_bm|'", 'a.bm_unit', "'|'", 'a.acceptance_number']) }} as engagement_key,
        min(a.time_from_utc) as start_utc,
        max(a.time_to_utc) as end_utc,
        max(greatest(abs(a.level_from_mw), abs(a.level_to_mw))) as power_mw,
        'elexon_boalf' as source_id
    from {{ ref('fct_bm_acceptance') }} as a
    inner join bm_crosswalk
        on bm_crosswalk.identity_key = {{ asset_identity_key("'bm_unit'", "'gb'", 'a.bm_unit') }}
    group by bm_crosswalk.asset_id, a.bm_unit, a.acceptance_number
),

activities as (
    select * from eac_commitments
    union all
    select * from instructions
    union all
    select * from ukpn
    union all
    select * from obligations
    union all
    select * from bm_acceptances
)

select
    {{ dbt.concat([
        'activities.activity_type', "'|'", 'activities.source_asset_ref', "'|'", 'activities.source_ref',
        "'|'", "cast(activities.start_utc as varchar)"
    ]) }} as activity_key,
    activities.activity_type,
    activities.activity_class,
    activities.asset_id,
    activities.source_asset_ref,
    activities.participant_id,
    activities.operator_id,
    activities.market_id,
    activities.product_id,
    products.direction,
    activities.source_ref,
    activities.engagement_key,
    activities.start_utc,
    activities.end_utc,
    activities.power_mw,
    activities.source_id
from activities
left join products
    on activities.product_id = products.product_id
where activities.asset_id is not null
    and activities.end_utc > activities.start_utc
