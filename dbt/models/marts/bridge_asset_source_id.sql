-- Every id a source knows a unit by, resolved to the SFE asset: one row per source, kind of
-- reference, namespace and reference. The registry is a source too: every id a registered asset
-- declares, and its registry id (source_id = 'registry').
with observations as (
    select * from {{ ref('int_asset_observations') }}
),

crosswalk as (
    select * from {{ ref('int_asset_crosswalk') }}
),

refs as (
    select
        source_id,
        ref_type,
        ref_namespace,
        source_asset_ref,
        identity_key,
        cast(sum(row_count) as bigint) as row_count,
        min(first_seen_utc) as first_seen_utc,
        max(last_seen_utc) as last_seen_utc
    from observations
    group by 1, 2, 3, 4, 5
)

select
    crosswalk.asset_id,
    refs.source_id,
    refs.source_asset_ref,
    refs.ref_type,
    refs.ref_namespace,
    crosswalk.match_status,
    crosswalk.anchor_key,
    refs.row_count,
    refs.first_seen_utc,
    refs.last_seen_utc
from refs
inner join crosswalk
    on refs.identity_key = crosswalk.identity_key

union all

select
    asset_id,
    'registry' as source_id,
    source_asset_ref,
    ref_type,
    ref_namespace,
    match_status,
    anchor_key,
    cast(0 as bigint) as row_count,
    cast(null as timestamp with time zone) as first_seen_utc,
    cast(null as timestamp with time zone) as last_seen_utc
from crosswalk
where match_status = 'registered'
