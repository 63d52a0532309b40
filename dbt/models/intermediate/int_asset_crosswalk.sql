-- One row per unit identity (ref_type | namespace | reference) seen in any source, with the physical
-- asset it belongs to. Deterministic rules, no fuzzy matching:
--   * an MPAN is a physical metering point: it anchors its own asset;
--   * a market reference (EAC unit name, UKPN fu_id, competition asset ref) that settlement lines tie
--     to exactly one MPAN belongs to that MPAN's asset ('via_mpan');
--   * a BM unit whose id is also an EAC unit name belongs to that EAC unit's asset ('via_eac_unit_name');
--   * a reference tied to two or more MPANs is ambiguous: it is NOT guessed onto one of them but gets an
--     asset of its own and is reported in int_unmatched_source_ids ('ambiguous_mpan');
--   * a reference that matches nothing gets an asset of its own ('unmatched', also reported);
--   * registered assets (registry snapshot) win over all of this: see the registry CTEs below.
-- asset_id = hash of the anchoring identity key ('registry_asset_id|sfe|<id>' for registered assets), so
-- it is stable across builds.
with observations as (
    select * from {{ ref('int_asset_observations') }}
),

identities as (
    select
        identity_key,
        ref_type,
        ref_namespace,
        source_asset_ref,
        cast(sum(row_count) as bigint) as row_count
    from observations
    group by 1, 2, 3, 4
),

mpan_links as (
    select
        identity_key,
        count(distinct mpan) as linked_mpans,
        min(mpan) as first_mpan
    from observations
    where mpan is not null
        and ref_type <> 'mpan'
    group by identity_key
),

direct as (
    select
        i.*,
        coalesce(l.linked_mpans, 0) as linked_mpans,
        case
            when i.ref_type = 'mpan' then i.identity_key
            when l.linked_mpans = 1 then {{ asset_identity_key("'mpan'", "'gb'", 'l.first_mpan') }}
            else i.identity_key
        end as anchor_key,
        case
            when i.ref_type = 'mpan' then 'is_mpan'
            when l.linked_mpans = 1 then 'via_mpan'
            when l.linked_mpans > 1 then 'ambiguous_mpan'
            else 'unmatched'
        end as match_status
    from identities as i
    left join mpan_links as l
        on i.identity_key = l.identity_key
),

-- BM unit ids are also the EAC unit names of BM units: the same string is the same unit.
eac_units as (
    select source_asset_ref, min(anchor_key) as anchor_key
    from direct
    where ref_type = 'eac_unit_name'
    group by source_asset_ref
    having count(distinct anchor_key) = 1
),

derived as (
    select
        d.identity_key,
        d.ref_type,
        d.ref_namespace,
        d.source_asset_ref,
        d.row_count,
        d.linked_mpans,
        case
            when d.ref_type = 'bm_unit' and e.anchor_key is not null then e.anchor_key
            else d.anchor_key
        end as anchor_key,
        case
            when d.ref_type = 'bm_unit' and e.anchor_key is not null then 'via_eac_unit_name'
            else d.match_status
        end as match_status
    from direct as d
    left join eac_units as e
        on d.ref_type = 'bm_unit'
        and d.source_asset_ref = e.source_asset_ref
),

-- Registered assets win (UC3). A derived identity a registered asset declares among its market ids
-- (matched on ref_type and reference) belongs to that asset ('registered'); so does every other
-- identity of its derived asset (same anchor) when the declared ones all name that one registered
-- asset ('via_registered_asset'). When a derived asset's ids are declared by two registered assets,
-- only the declared ids move: the registry knows better than the derived link.
registered_assets as (
    select registry_asset_id, dno_area from {{ ref('stg_registry__assets') }}
),

registered_ids as (
    select ids.registry_asset_id, ids.ref_type, ids.source_asset_ref, assets.dno_area
    from {{ ref('stg_registry__asset_market_ids') }} as ids
    inner join registered_assets as assets
        on ids.registry_asset_id = assets.registry_asset_id
),

direct_claims as (
    select derived.identity_key, min(r.registry_asset_id) as registry_asset_id
    from derived
    inner join registered_ids as r
        on derived.ref_type = r.ref_type
        and derived.source_asset_ref = r.source_asset_ref
    group by derived.identity_key
),

group_claims as (
    select derived.anchor_key, min(c.registry_asset_id) as registry_asset_id
    from derived
    inner join direct_claims as c
        on derived.identity_key = c.identity_key
    group by derived.anchor_key
    having count(distinct c.registry_asset_id) = 1
),

resolved as (
    select
        derived.identity_key,
        derived.ref_type,
        derived.ref_namespace,
        derived.source_asset_ref,
        derived.row_count,
        derived.linked_mpans,
        coalesce(direct_claims.registry_asset_id, group_claims.registry_asset_id) as registry_asset_id,
        case
            when coalesce(direct_claims.registry_asset_id, group_claims.registry_asset_id) is not null
                then {{ asset_identity_key("'registry_asset_id'", "'sfe'", 'coalesce(direct_claims.registry_asset_id, group_claims.registry_asset_id)') }}
            else derived.anchor_key
        end as anchor_key,
        case
            when direct_claims.registry_asset_id is not null then 'registered'
            when group_claims.registry_asset_id is not null then 'via_registered_asset'
            else derived.match_status
        end as match_status
    from derived
    left join direct_claims
        on derived.identity_key = direct_claims.identity_key
    left join group_claims
        on derived.anchor_key = group_claims.anchor_key
),

dno_operators as (
    select distinct dno_area, operator_id from {{ ref('dno_areas') }}
),

-- Ids a registered asset declares that no source has used yet, and every registered asset's own
-- registry id: identities of the registered asset too (so a registered asset no market has seen
-- still has one). A competition asset ref is namespaced by the DNO of the asset's area.
registry_identities as (
    select
        r.registry_asset_id,
        r.ref_type,
        case
            when r.ref_type in ('mpan', 'bm_unit') then 'gb'
            when r.ref_type = 'eac_unit_name' then 'neso'
            when r.ref_type = 'ukpn_fu_id' then 'ukpn'
            else coalesce(dno_operators.operator_id, 'registry')
        end as ref_namespace,
        r.source_asset_ref
    from registered_ids as r
    left join dno_operators
        on r.dno_area = dno_operators.dno_area
    where not exists (
        select 1 from derived
        where derived.ref_type = r.ref_type
            and derived.source_asset_ref = r.source_asset_ref
    )

    union all

    select registry_asset_id, 'registry_asset_id', 'sfe', registry_asset_id
    from registered_assets
),

declared_only as (
    select
        {{ asset_identity_key('ref_type', 'ref_namespace', 'source_asset_ref') }} as identity_key,
        ref_type,
        ref_namespace,
        source_asset_ref,
        cast(0 as bigint) as row_count,
        cast(0 as bigint) as linked_mpans,
        registry_asset_id,
        {{ asset_identity_key("'registry_asset_id'", "'sfe'", 'registry_asset_id') }} as anchor_key,
        'registered' as match_status
    from registry_identities
),

identities_resolved as (
    select * from resolved
    union all
    select * from declared_only
)

select
    identity_key,
    ref_type,
    ref_namespace,
    source_asset_ref,
    row_count,
    linked_mpans,
    anchor_key,
    match_status,
    {{ asset_id('anchor_key') }} as asset_id,
    registry_asset_id is not null as is_registered,
    registry_asset_id
from identities_resolved
