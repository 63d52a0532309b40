-- Bids in DNO flexibility competitions. The window is the competition's service period in UTC:
-- window_start_utc = first service day at the daily window start, window_end_utc = last service day at
-- the window end (Europe/London wall clock localised by the connector); within it the unit is
-- committed only on the service days (days_of_week) during the daily window (window_*_local).
with bids as (
    select * from {{ ref('stg_dno_flex_competitions__bids') }}
),

competitions as (
    select * from {{ ref('stg_dno_flex_competitions__competitions') }}
),

products as (
    select * from {{ ref('int_source_products_mapped') }}
    where source_id = 'dno_flex_competitions' and field = 'product'
),

operators as (
    select operator_id, asset_ref_type from {{ ref('operators') }}
),

crosswalk as (
    select identity_key, asset_id from {{ ref('int_asset_crosswalk') }}
)

select
    bids.bid_id,
    bids.competition_id,
    products.market_id,
    products.product_id,
    {{ participant_id('bids.company_name') }} as participant_id,
    crosswalk.asset_id,
    competitions.service_start_utc as window_start_utc,
    competitions.service_end_utc as window_end_utc,
    bids.offered_mw,
    bids.availability_price_gbp_per_mw_h,
    bids.utilisation_price_gbp_per_mwh,
    bids.status,
    bids.company_name as participant_name,
    bids.asset_ref as source_asset_ref,
    bids.submitted_utc,
    competitions.operator_id,
    competitions.licence_area,
    competitions.flex_zone,
    competitions.direction,
    competitions.service_start_date,
    competitions.service_end_date,
    competitions.days_of_week,
    competitions.window_start_local,
    competitions.window_end_local,
    competitions.required_mw,
    competitions.ceiling_availability_price_gbp_per_mw_h,
    competitions.ceiling_utilisation_price_gbp_per_mwh,
    competitions.competition_status,
    'dno_flex_competitions' as source_id,
    bids.source_file,
    bids.source_row
from bids
inner join competitions
    on bids.competition_id = competitions.competition_id
inner join products
    on competitions.operator_id = products.operator_id
    and coalesce(competitions.product_source_value, '') = products.source_value
left join crosswalk
    on crosswalk.identity_key = {{ asset_identity_key("'competition_asset_ref'", 'competitions.operator_id', 'bids.asset_ref') }}
