-- Dispatch rationale (UC22): for every SO dispatch instruction in force, what was dispatched at what price,
-- the merit order of the offers available for that product and window, and the cheaper offers the SO
-- skipped, next to the reason the SO disclosed with the instruction and the rank/skips it reported itself.
-- The offer book of an instruction:
--   DNO instructions   the competition's contracts whose service window on that day overlaps the instruction,
--                      each held by the unit holding it then (int_obligation_holders_daily, resales applied),
--                      at the contract's utilisation price;
--   NESO instructions  the units holding the same EAC product in an overlapping delivery window
--                      (fct_auction_unit_result), at the utilisation price the unit last had on a NESO
--                      instruction (NESO discloses utilisation prices only there: a unit never instructed has
--                      no known price and is counted as unpriced, not ranked).
-- An offer is dispatched when an instruction of the same SO calls it in an overlapping window; a cheaper
-- offer neither dispatched nor this instruction's own is skipped. merit_order_rank = 1 + the priced offers
-- strictly cheaper than this instruction's price. UKPN publishes exchange results without offers or reasons
-- (its dispatches are in fct_dispatch), so it has no rows here.
with instructions as (
    select * from {{ ref('fct_dispatch') }}
    where source_id = 'so_dispatch_instructions'
),

obligations as (
    select bid_id, competition_id from {{ ref('fct_bid') }}
),

dno_instructions as (
    select
        i.*,
        coalesce(i.competition_id, obligations.competition_id) as offer_competition_id
    from instructions as i
    left join obligations
        on i.contract_ref = obligations.bid_id
    where i.operator_id <> 'neso'
),

dno_offers as (
    select
        i.dispatch_id,
        h.obligation_id as offer_ref,
        h.holder_source_asset_ref as offer_asset_ref,
        h.held_mw as offer_mw,
        h.utilisation_price_gbp_per_mwh as offer_price_gbp_per_mwh,
        (h.obligation_id = i.contract_ref and h.holder_source_asset_ref = i.source_asset_ref) as is_this_offer
    from dno_instructions as i
    inner join {{ ref('int_obligation_holders_daily') }} as h
        on h.competition_id = i.offer_competition_id
        and h.window_start_utc < i.end_utc
        and i.start_utc < h.window_end_utc
),

-- The utilisation price each NESO unit had on its instructions, valid until its next instruction (the first
-- price also stands for the time before it).
neso_unit_prices as (
    select
        source_asset_ref as unit_name,
        utilisation_price_gbp_per_mwh as price_gbp_per_mwh,
        case when row_number() over (partition by source_asset_ref order by start_utc, dispatch_id) > 1
            then start_utc end as valid_from_utc,
        lead(start_utc) over (partition by source_asset_ref order by start_utc, dispatch_id) as valid_to_utc
    from instructions
    where operator_id = 'neso' and utilisation_price_gbp_per_mwh is not null
),

-- Holdings and instructions meet per product and UTC day (a window is in every day it touches), so the
-- join grows with the rows of a day, not with a year of unit results per instruction.
neso_instruction_days as (
    select
        dispatch_id,
        product_id,
        start_utc,
        end_utc,
        {{ utc_days_touched('start_utc', 'end_utc') }} as bucket_day
    from instructions
    where operator_id = 'neso'
),

unit_result_days as (
    select
        unit_name,
        product_id,
        delivery_start_utc,
        delivery_end_utc,
        executed_volume_mw,
        {{ utc_days_touched('delivery_start_utc', 'delivery_end_utc') }} as bucket_day
    from {{ ref('fct_auction_unit_result') }}
),

neso_holdings as (
    select
        i.dispatch_id,
        u.unit_name,
        max(u.executed_volume_mw) as offer_mw
    from neso_instruction_days as i
    inner join unit_result_days as u
        on u.product_id = i.product_id
        and u.bucket_day = i.bucket_day
        and u.delivery_start_utc < i.end_utc
        and i.start_utc < u.delivery_end_utc
    group by i.dispatch_id, u.unit_name
),

neso_offers as (
    select
        h.dispatch_id,
        h.unit_name as offer_ref,
        h.unit_name as offer_asset_ref,
        h.offer_mw,
        p.price_gbp_per_mwh as offer_price_gbp_per_mwh,
        h.unit_name = i.source_asset_ref as is_this_offer
    from neso_holdings as h
    inner join instructions as i
        on h.dispatch_id = i.dispatch_id
    left join neso_unit_prices as p
        on h.unit_name = p.unit_name
        and (p.valid_from_utc is null or p.valid_from_utc <= i.start_utc)
        and (p.valid_to_utc is null or i.start_utc < p.valid_to_utc)
),

offers as (
    select * from dno_offers
    union all
    select * from neso_offers
),

-- Offers another instruction of the same SO called in an overlapping window.
dispatched_elsewhere as (
    select distinct o.dispatch_id, o.offer_ref, o.offer_asset_ref
    from offers as o
    inner join instructions as i
        on o.dispatch_id = i.dispatch_id
    inner join instructions as other
        on other.operator_id = i.operator_id
        and other.product_id = i.product_id
        and other.dispatch_id <> i.dispatch_id
        and other.source_asset_ref = o.offer_asset_ref
        and (other.operator_id = 'neso' or other.contract_ref = o.offer_ref)
        and other.start_utc < i.end_utc
        and i.start_utc < other.end_utc
    where not o.is_this_offer
),

classified as (
    select
        o.*,
        i.utilisation_price_gbp_per_mwh as dispatched_price_gbp_per_mwh,
        d.dispatch_id is not null as is_dispatched_elsewhere,
        not o.is_this_offer
            and o.offer_price_gbp_per_mwh < i.utilisation_price_gbp_per_mwh as is_cheaper
    from offers as o
    inner join instructions as i
        on o.dispatch_id = i.dispatch_id
    left join dispatched_elsewhere as d
        on o.dispatch_id = d.dispatch_id
        and o.offer_ref = d.offer_ref
        and o.offer_asset_ref = d.offer_asset_ref
),

labelled as (
    select
        *,
        rank() over (partition by dispatch_id order by offer_price_gbp_per_mwh) as price_rank,
        case
            when is_this_offer then 'this'
            when is_dispatched_elsewhere then 'dispatched'
            when is_cheaper then 'skipped'
            else 'not needed'
        end as offer_outcome
    from classified
    where offer_price_gbp_per_mwh is not null
),

book as (
    select
        c.dispatch_id,
        count(*) as available_offers,
        sum(c.offer_mw) as available_offers_mw,
        count(c.offer_price_gbp_per_mwh) as priced_offers,
        max(case when c.is_this_offer then 1 else 0 end) = 1 as dispatched_offer_in_book,
        min(c.offer_price_gbp_per_mwh) as cheapest_available_price_gbp_per_mwh,
        sum(case when c.is_cheaper then 1 else 0 end) as cheaper_offers_available,
        sum(case when c.is_cheaper and c.is_dispatched_elsewhere then 1 else 0 end) as cheaper_offers_dispatched,
        sum(case when c.is_cheaper and not c.is_dispatched_elsewhere then 1 else 0 end) as cheaper_offers_skipped,
        coalesce(sum(case when c.is_cheaper and not c.is_dispatched_elsewhere then c.offer_mw end), 0)
            as cheaper_offers_skipped_mw,
        min(case when c.is_cheaper and not c.is_dispatched_elsewhere then c.offer_price_gbp_per_mwh end)
            as cheapest_skipped_price_gbp_per_mwh
    from classified as c
    group by c.dispatch_id
),

merit_orders as (
    select
        dispatch_id,
        {{ dbt.listagg(
            dbt.concat([
                "'#'", 'cast(price_rank as varchar)', "' '", 'cast(round(offer_price_gbp_per_mwh, 2) as varchar)',
                "' GBP/MWh '", 'cast(round(offer_mw, 3) as varchar)', "' MW '", 'offer_asset_ref',
                "' ('", 'offer_outcome', "')'"
            ]),
            "'; '",
            'order by offer_price_gbp_per_mwh, offer_asset_ref, offer_ref'
        ) }} as merit_order
    from labelled
    group by dispatch_id
)

select
    i.dispatch_id,
    i.operator_id,
    i.market_id,
    i.product_id,
    i.participant_id,
    i.asset_id,
    i.source_asset_ref,
    i.contract_ref,
    i.competition_id,
    i.direction,
    i.start_utc,
    i.end_utc,
    i.issued_at_utc,
    i.power_mw as dispatched_mw,
    i.energy_mwh as dispatched_mwh,
    i.utilisation_price_gbp_per_mwh,
    case when i.operator_id = 'neso' then 'eac_holdings' else 'competition_contracts' end as offer_book,
    cast(coalesce(book.available_offers, 0) as integer) as available_offers,
    coalesce(book.available_offers_mw, 0) as available_offers_mw,
    cast(coalesce(book.priced_offers, 0) as integer) as priced_offers,
    coalesce(book.dispatched_offer_in_book, false) as dispatched_offer_in_book,
    book.cheapest_available_price_gbp_per_mwh,
    case when i.utilisation_price_gbp_per_mwh is not null
        then cast(1 + coalesce(book.cheaper_offers_available, 0) as integer) end as merit_order_rank,
    cast(coalesce(book.cheaper_offers_available, 0) as integer) as cheaper_offers_available,
    cast(coalesce(book.cheaper_offers_dispatched, 0) as integer) as cheaper_offers_dispatched,
    cast(coalesce(book.cheaper_offers_skipped, 0) as integer) as cheaper_offers_skipped,
    coalesce(book.cheaper_offers_skipped_mw, 0) as cheaper_offers_skipped_mw,
    coalesce(book.cheaper_offers_skipped, 0) > 0 as is_out_of_merit,
    book.cheapest_skipped_price_gbp_per_mwh,
    i.utilisation_price_gbp_per_mwh - book.cheapest_skipped_price_gbp_per_mwh
        as out_of_merit_premium_gbp_per_mwh,
    merit_orders.merit_order,
    i.reason_code,
    i.rationale,
    i.merit_order_rank as so_reported_merit_order_rank,
    i.cheaper_offers_skipped as so_reported_cheaper_offers_skipped,
    i.cheaper_offers_skipped = coalesce(book.cheaper_offers_skipped, 0) as skips_match_so_report,
    i.source_file,
    i.source_row
from instructions as i
left join book
    on i.dispatch_id = book.dispatch_id
left join merit_orders
    on i.dispatch_id = merit_orders.dispatch_id
