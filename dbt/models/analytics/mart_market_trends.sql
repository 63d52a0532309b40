-- Prices and volumes for market trends (UC6): per day and per month x market x product x asset type x
-- size band x activity, with year-on-year change where the same period a year earlier has data.
-- Activities are kept apart because their volumes and prices mean different things:
--   auction_result  NESO EAC unit results: MW cleared per delivery window, availability price GBP/MW/h;
--   dispatch        fct_dispatch: MW / MWh instructed, utilisation price GBP/MWh (UKPN availability
--                   prices too, weighted by availability MWh);
--   contract        accepted DNO competition bids, per service day: MW contracted, MWh = MW x daily
--                   window hours (wall clock), contracted availability and utilisation prices.
-- Days are UTC days of the window start (contracts: the local service day); months likewise.
-- Asset type and size band come from dim_asset ('unknown' when not known); n_units counts distinct assets.
-- Contracts are credited to the unit holding the obligation that day (int_obligation_holders_daily): after
-- a resale the buyer's unit, for its share of the day's MW x hours; the contract-day counts once in
-- record_count, at the unit holding most of it.
-- The mart is public: a row resting on fewer than min_participants distinct participants (who the records
-- pay: the record's participant, else the asset's owner; unknown ones do not count) or fewer distinct
-- units is suppressed, as the trade / dispatch / settlement aggregates are (sfe.queries.MIN_PARTICIPANTS,
-- the same threshold): its prices (from which one unit's revenue follows) and its participant count are
-- null and suppressed is true. Volumes and record counts stay, so the mart still adds up to the facts.
{% set min_participants = 3 %}
with assets as (
    select asset_id, asset_type, size_band, owner_participant_id from {{ ref('dim_asset') }}
),

products as (
    select product_id, standard_product from {{ ref('dim_product') }}
),

auction as (
    select
        'auction_result' as activity,
        cast({{ dbt.date_trunc('day', 'delivery_start_utc') }} as date) as activity_date,
        market_id,
        product_id,
        asset_id,
        participant_id,
        asset_type as source_asset_type,
        1 as record_weight,
        executed_volume_mw as volume_mw,
        executed_volume_mwh as volume_mwh,
        clearing_price_gbp_per_mw_h as availability_price_gbp_per_mw_h,
        executed_volume_mwh as availability_weight_mwh,
        cast(null as double) as utilisation_price_gbp_per_mwh,
        cast(null as double) as utilisation_weight_mwh
    from {{ ref('fct_auction_unit_result') }}
),

dispatch as (
    select
        'dispatch' as activity,
        cast({{ dbt.date_trunc('day', 'start_utc') }} as date) as activity_date,
        market_id,
        product_id,
        asset_id,
        participant_id,
        cast(null as varchar) as source_asset_type,
        1 as record_weight,
        power_mw as volume_mw,
        energy_mwh as volume_mwh,
        availability_price_gbp_per_mw_h,
        availability_mwh as availability_weight_mwh,
        utilisation_price_gbp_per_mwh,
        energy_mwh as utilisation_weight_mwh
    from {{ ref('fct_dispatch') }}
),

calendar as (
    select distinct settlement_date as service_date
    from {{ ref('dim_settlement_period') }}
),

accepted_bids as (
    select
        *,
        (
            (extract(hour from window_end_local) * 60 + extract(minute from window_end_local))
            - (extract(hour from window_start_local) * 60 + extract(minute from window_start_local))
        ) / 60.0 as raw_window_h
    from {{ ref('fct_bid') }}
    where status = 'accepted'
),

-- The units holding each obligation on each service day, with their share of the day's MW x hours
-- (the winner's alone without a resale).
holder_days as (
    select
        obligation_id,
        service_date,
        holder_asset_id,
        holder_participant_id,
        sum(held_mw * {{ dbt.datediff('window_start_utc', 'window_end_utc', 'second') }}) as held_mw_s
    from {{ ref('int_obligation_holders_daily') }}
    group by obligation_id, service_date, holder_asset_id, holder_participant_id
),

holder_shares as (
    select
        obligation_id,
        service_date,
        holder_asset_id,
        holder_participant_id,
        case
            when sum(held_mw_s) over (partition by obligation_id, service_date) > 0
                then held_mw_s / sum(held_mw_s) over (partition by obligation_id, service_date)
            else 1.0 / count(*) over (partition by obligation_id, service_date)
        end as share,
        row_number() over (
            partition by obligation_id, service_date order by held_mw_s desc, holder_asset_id
        ) as holder_rank
    from holder_days
),

contract_days as (
    select
        b.*,
        calendar.service_date,
        b.offered_mw * case when b.raw_window_h <= 0 then b.raw_window_h + 24 else b.raw_window_h end
            as day_mwh
    from accepted_bids as b
    inner join calendar
        on calendar.service_date >= b.service_start_date
        and calendar.service_date <= b.service_end_date
        and (b.days_of_week is null or b.days_of_week <> 'Mon-Fri' or extract(isodow from calendar.service_date) <= 5)
),

-- A contract-day without a holder row (e.g. no unit resolved) stays with the winning bid's unit.
contract as (
    select
        'contract' as activity,
        d.service_date as activity_date,
        d.market_id,
        d.product_id,
        case when h.obligation_id is null then d.asset_id else h.holder_asset_id end as asset_id,
        case when h.obligation_id is null then d.participant_id else h.holder_participant_id end
            as participant_id,
        cast(null as varchar) as source_asset_type,
        case when h.obligation_id is null or h.holder_rank = 1 then 1 else 0 end as record_weight,
        d.offered_mw * coalesce(h.share, 1.0) as volume_mw,
        d.day_mwh * coalesce(h.share, 1.0) as volume_mwh,
        d.availability_price_gbp_per_mw_h,
        d.day_mwh * coalesce(h.share, 1.0) as availability_weight_mwh,
        d.utilisation_price_gbp_per_mwh,
        d.day_mwh * coalesce(h.share, 1.0) as utilisation_weight_mwh
    from contract_days as d
    left join holder_shares as h
        on d.bid_id = h.obligation_id
        and d.service_date = h.service_date
),

records as (
    select * from auction
    union all
    select * from dispatch
    union all
    select * from contract
),

classified as (
    select
        records.*,
        cast({{ dbt.date_trunc('month', 'records.activity_date') }} as date) as activity_month,
        coalesce(nullif(assets.asset_type, 'unknown'), records.source_asset_type, 'unknown') as asset_type,
        coalesce(assets.size_band, 'unknown') as size_band,
        coalesce(records.participant_id, assets.owner_participant_id) as paid_participant_id
    from records
    left join assets
        on records.asset_id = assets.asset_id
),

{% set measures %}
        sum(record_weight) as record_count,
        count(distinct asset_id) as n_units,
        count(distinct paid_participant_id) as n_participants,
        sum(volume_mw) as volume_mw,
        avg(volume_mw) as avg_volume_mw,
        sum(volume_mwh) as volume_mwh,
        sum(availability_price_gbp_per_mw_h * availability_weight_mwh)
            / nullif(sum(case when availability_price_gbp_per_mw_h is not null then availability_weight_mwh end), 0)
            as vwap_availability_price_gbp_per_mw_h,
        avg(availability_price_gbp_per_mw_h) as avg_availability_price_gbp_per_mw_h,
        sum(utilisation_price_gbp_per_mwh * utilisation_weight_mwh)
            / nullif(sum(case when utilisation_price_gbp_per_mwh is not null then utilisation_weight_mwh end), 0)
            as vwap_utilisation_price_gbp_per_mwh,
        avg(utilisation_price_gbp_per_mwh) as avg_utilisation_price_gbp_per_mwh
{% endset %}

grouped as (
    select
        'day' as period_grain,
        activity_date as period_start,
        market_id, product_id, asset_type, size_band, activity,
        {{ measures }}
    from classified
    group by activity_date, market_id, product_id, asset_type, size_band, activity

    union all

    select
        'month' as period_grain,
        activity_month as period_start,
        market_id, product_id, asset_type, size_band, activity,
        {{ measures }}
    from classified
    group by activity_month, market_id, product_id, asset_type, size_band, activity
),

aggregated as (
    select
        *,
        n_participants < {{ min_participants }} or n_units < {{ min_participants }} as suppressed
    from grouped
)

select
    cur.period_grain,
    cur.period_start,
    cur.market_id,
    cur.product_id,
    products.standard_product,
    cur.asset_type,
    cur.size_band,
    cur.activity,
    cast(cur.record_count as bigint) as record_count,
    cast(cur.n_units as bigint) as n_units,
    cast(case when not cur.suppressed then cur.n_participants end as bigint) as n_participants,
    cur.suppressed,
    cur.volume_mw,
    cur.avg_volume_mw,
    cur.volume_mwh,
    case when not cur.suppressed then cur.vwap_availability_price_gbp_per_mw_h end
        as vwap_availability_price_gbp_per_mw_h,
    case when not cur.suppressed then cur.avg_availability_price_gbp_per_mw_h end
        as avg_availability_price_gbp_per_mw_h,
    case when not cur.suppressed then cur.vwap_utilisation_price_gbp_per_mwh end
        as vwap_utilisation_price_gbp_per_mwh,
    case when not cur.suppressed then cur.avg_utilisation_price_gbp_per_mwh end
        as avg_utilisation_price_gbp_per_mwh,
    prior.volume_mwh as prior_year_volume_mwh,
    (cur.volume_mwh - prior.volume_mwh) / nullif(prior.volume_mwh, 0) as yoy_volume_mwh_change,
    case when not cur.suppressed and not prior.suppressed then
        (cur.vwap_availability_price_gbp_per_mw_h - prior.vwap_availability_price_gbp_per_mw_h)
            / nullif(abs(prior.vwap_availability_price_gbp_per_mw_h), 0)
    end as yoy_vwap_availability_price_change,
    case when not cur.suppressed and not prior.suppressed then
        (cur.vwap_utilisation_price_gbp_per_mwh - prior.vwap_utilisation_price_gbp_per_mwh)
            / nullif(abs(prior.vwap_utilisation_price_gbp_per_mwh), 0)
    end as yoy_vwap_utilisation_price_change
from aggregated as cur
left join aggregated as prior
    on cur.period_grain = prior.period_grain
    and prior.period_start = cast({{ dbt.dateadd('year', -1, 'cur.period_start') }} as date)
    and cur.market_id = prior.market_id
    and cur.product_id = prior.product_id
    and cur.asset_type = prior.asset_type
    and cur.size_band = prior.size_band
    and cur.activity = prior.activity
left join products
    on cur.product_id = products.product_id
