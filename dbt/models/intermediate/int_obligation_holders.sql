-- Who holds each DNO competition obligation (an accepted bid), from when (UC27). The winner holds the
-- contract over its service period; each consistent resale (fct_resale.resale_issue is null) moves
-- resold_mw from the seller's unit to the buyer's for [start_utc, end_utc). The service period is cut at
-- every resale boundary, the MW each unit holds in each piece is netted (winner + bought - sold, so partial
-- resales and resales of resales work), and consecutive pieces with the same holder and MW are merged.
-- One row per obligation, holding unit and period; periods are half-open and within the service period.
with obligations as (
    select
        bid_id as obligation_id,
        competition_id,
        operator_id,
        market_id,
        product_id,
        participant_id as winner_participant_id,
        participant_name as winner_participant_name,
        asset_id as winner_asset_id,
        source_asset_ref as winner_source_asset_ref,
        offered_mw,
        window_start_utc as service_start_utc,
        window_end_utc as service_end_utc
    from {{ ref('fct_bid') }}
    where status = 'accepted'
),

resales as (
    select
        r.resale_id,
        r.original_bid_id as obligation_id,
        coalesce(r.seller_source_asset_ref, o.winner_source_asset_ref) as seller_source_asset_ref,
        coalesce(r.seller_participant_id, o.winner_participant_id) as seller_participant_id,
        coalesce(r.seller_participant_name, o.winner_participant_name) as seller_participant_name,
        coalesce(r.seller_asset_id, o.winner_asset_id) as seller_asset_id,
        r.buyer_source_asset_ref,
        r.buyer_participant_id,
        r.buyer_participant_name,
        r.buyer_asset_id,
        r.resold_mw,
        greatest(r.start_utc, o.service_start_utc) as from_utc,
        least(r.end_utc, o.service_end_utc) as to_utc
    from {{ ref('fct_resale') }} as r
    inner join obligations as o
        on r.original_bid_id = o.obligation_id
    where r.resale_issue is null
),

boundaries as (
    select obligation_id, service_start_utc as boundary_utc from obligations
    union
    select obligation_id, service_end_utc from obligations
    union
    select obligation_id, from_utc from resales
    union
    select obligation_id, to_utc from resales
),

pieces as (
    select
        obligation_id,
        boundary_utc as piece_start_utc,
        lead(boundary_utc) over (partition by obligation_id order by boundary_utc) as piece_end_utc
    from boundaries
),

holdings as (
    select
        p.obligation_id, p.piece_start_utc, p.piece_end_utc,
        o.winner_source_asset_ref as holder_source_asset_ref,
        o.winner_participant_id as holder_participant_id,
        o.winner_participant_name as holder_participant_name,
        o.winner_asset_id as holder_asset_id,
        o.offered_mw as mw,
        cast(null as varchar) as resale_id
    from pieces as p
    inner join obligations as o
        on p.obligation_id = o.obligation_id
    where p.piece_end_utc is not null

    union all

    select
        p.obligation_id, p.piece_start_utc, p.piece_end_utc,
        r.buyer_source_asset_ref, r.buyer_participant_id, r.buyer_participant_name, r.buyer_asset_id,
        r.resold_mw,
        r.resale_id
    from pieces as p
    inner join resales as r
        on p.obligation_id = r.obligation_id
        and r.from_utc <= p.piece_start_utc
        and r.to_utc >= p.piece_end_utc
    where p.piece_end_utc is not null

    union all

    select
        p.obligation_id, p.piece_start_utc, p.piece_end_utc,
        r.seller_source_asset_ref, r.seller_participant_id, r.seller_participant_name, r.seller_asset_id,
        -r.resold_mw,
        cast(null as varchar)
    from pieces as p
    inner join resales as r
        on p.obligation_id = r.obligation_id
        and r.from_utc <= p.piece_start_utc
        and r.to_utc >= p.piece_end_utc
    where p.piece_end_utc is not null
),

netted as (
    select
        obligation_id,
        piece_start_utc,
        piece_end_utc,
        holder_source_asset_ref,
        max(holder_participant_id) as holder_participant_id,
        max(holder_participant_name) as holder_participant_name,
        max(holder_asset_id) as holder_asset_id,
        round(sum(mw), 6) as held_mw,
        -- the resale through which a buyer holds; a later resale of the same unit wins
        max(resale_id) as resale_id
    from holdings
    group by obligation_id, piece_start_utc, piece_end_utc, holder_source_asset_ref
    having round(sum(mw), 6) > 0
),

flagged as (
    select
        *,
        case
            when lag(piece_end_utc) over (
                partition by obligation_id, holder_source_asset_ref, held_mw, coalesce(resale_id, '')
                order by piece_start_utc
            ) = piece_start_utc then 0
            else 1
        end as starts_period
    from netted
),

periods as (
    select
        *,
        sum(starts_period) over (
            partition by obligation_id, holder_source_asset_ref, held_mw, coalesce(resale_id, '')
            order by piece_start_utc
            rows between unbounded preceding and current row
        ) as period_number
    from flagged
)

select
    o.obligation_id,
    o.competition_id,
    o.operator_id,
    o.market_id,
    o.product_id,
    p.holder_participant_id,
    p.holder_participant_name,
    p.holder_asset_id,
    p.holder_source_asset_ref,
    case when p.resale_id is null then 'winner' else 'resale_buyer' end as holder_role,
    p.resale_id,
    p.held_mw,
    min(p.piece_start_utc) as valid_from_utc,
    max(p.piece_end_utc) as valid_to_utc,
    o.offered_mw,
    o.winner_participant_id,
    o.winner_asset_id,
    o.winner_source_asset_ref
from periods as p
inner join obligations as o
    on p.obligation_id = o.obligation_id
group by
    o.obligation_id, o.competition_id, o.operator_id, o.market_id, o.product_id,
    p.holder_participant_id, p.holder_participant_name, p.holder_asset_id, p.holder_source_asset_ref,
    p.resale_id, p.held_mw, p.period_number,
    o.offered_mw, o.winner_participant_id, o.winner_asset_id, o.winner_source_asset_ref
