-- Secondary market (UC27): won DNO competition contracts resold between FSPs, one row per resale, reported
-- like a trade. The buyer's unit takes over resold_mw of the obligation for [start_utc, end_utc)
-- (int_obligation_holders applies it). resale_issue says why a resale cannot change who holds the
-- obligation (null = consistent): the resold bid is unknown, of another competition or was not accepted,
-- the period misses the bid's service period, the seller did not hold the contract, or more MW were sold
-- than the contract has.
-- A resale whose competition is missing from the workbooks is not shown (it has no product).
with resales as (
    select * from {{ ref('stg_dno_flex_competitions__resales') }}
),

competitions as (
    select * from {{ ref('stg_dno_flex_competitions__competitions') }}
),

bids as (
    select * from {{ ref('stg_dno_flex_competitions__bids') }}
),

products as (
    select * from {{ ref('int_source_products_mapped') }}
    where source_id = 'dno_flex_competitions' and field = 'product'
),

crosswalk as (
    select identity_key, asset_id from {{ ref('int_asset_crosswalk') }}
),

-- Who may sell the contract: its winner, and every buyer of an earlier resale of the same bid.
holders_before as (
    select
        r.resale_id,
        max(case when prior.buyer_asset_ref = r.seller_asset_ref then 1 else 0 end) as seller_bought_it
    from resales as r
    left join resales as prior
        on prior.original_bid_id = r.original_bid_id
        and prior.resale_id <> r.resale_id
        and prior.start_utc <= r.start_utc
        and prior.end_utc > r.start_utc
    group by r.resale_id
)

select
    r.resale_id,
    'secondary' as market_id,
    products.product_id,
    products.market_id as obligation_market_id,
    c.operator_id,
    r.competition_id,
    r.original_bid_id,
    {{ participant_id('r.seller_company') }} as seller_participant_id,
    r.seller_company as seller_participant_name,
    seller.asset_id as seller_asset_id,
    r.seller_asset_ref as seller_source_asset_ref,
    {{ participant_id('r.buyer_company') }} as buyer_participant_id,
    r.buyer_company as buyer_participant_name,
    buyer.asset_id as buyer_asset_id,
    r.buyer_asset_ref as buyer_source_asset_ref,
    r.resold_mw,
    r.start_utc,
    r.end_utc,
    {{ dbt.datediff('r.start_utc', 'r.end_utc', 'minute') }} / 60.0 as duration_h,
    r.price_gbp_per_mw_h,
    r.agreed_utc,
    b.status as original_bid_status,
    b.offered_mw as original_offered_mw,
    case
        when b.bid_id is null then 'original_bid_not_found'
        when b.competition_id <> r.competition_id then 'bid_of_another_competition'
        when b.status <> 'accepted' then 'original_bid_not_accepted'
        when r.end_utc <= c.service_start_utc or r.start_utc >= c.service_end_utc then 'outside_service_period'
        when r.seller_asset_ref <> b.asset_ref and holders_before.seller_bought_it = 0 then 'seller_not_holder'
        when r.resold_mw > b.offered_mw + 1e-9 then 'exceeds_contracted_mw'
    end as resale_issue,
    'dno_flex_competitions' as source_id,
    r.source_file,
    r.source_row
from resales as r
inner join competitions as c
    on r.competition_id = c.competition_id
inner join products
    on c.operator_id = products.operator_id
    and coalesce(c.product_source_value, '') = products.source_value
left join bids as b
    on r.original_bid_id = b.bid_id
left join holders_before
    on r.resale_id = holders_before.resale_id
left join crosswalk as seller
    on seller.identity_key = {{ asset_identity_key("'competition_asset_ref'", 'c.operator_id', 'r.seller_asset_ref') }}
left join crosswalk as buyer
    on buyer.identity_key = {{ asset_identity_key("'competition_asset_ref'", 'c.operator_id', 'r.buyer_asset_ref') }}
