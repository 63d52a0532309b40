-- One row per unit identity (ref_type | namespace | reference) seen in any source, with the physical
-- asset it belongs to. Deterministic rules, no fuzzy matching:
--   * an MPAN is a physical metering point: it anchors its own asset;
--   * a market reference (EAC unit name, UKPN fu_id, competition asset ref) that settlement lines tie
--     to exactly one MPAN belongs to that MPAN's asset ('via_mpan');
--   * a BM unit whose id is also an EAC unit name belongs to that EAC unit's asset ('via_eac_unit_name');
--   * a reference tied to two or more MPANs is ambiguous: it is NOT guessed onto one of them but gets an
--     asset of its own and is reported in int_unmatched_source_ids ('ambiguous_mpan');
--   * a reference that matches nothing gets an asset of its own ('unmatched', also reported).
-- asset_id = hash of the anchoring identity key, so it is stable across builds.
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

-- registry: SEAM for the asset registry (UC3). Registered assets will win over the derived anchors:
-- when the registry snapshot exists, select here (identity_key, asset_id) for every id a registered
-- asset declares (its MPAN, BM unit, EAC unit name, fu_id, competition refs). Until then it is empty
-- and every asset is derived from the source ids alone.
registry as (
    select
        cast(null as varchar) as identity_key,
        cast(null as varchar) as asset_id
    where 1 = 0
)

select
    derived.identity_key,
    derived.ref_type,
    derived.ref_namespace,
    derived.source_asset_ref,
    derived.row_count,
    derived.linked_mpans,
    derived.anchor_key,
    derived.match_status,
    coalesce(registered.asset_id, registered_anchor.asset_id, {{ asset_id('derived.anchor_key') }}) as asset_id,
    coalesce(registered.asset_id, registered_anchor.asset_id) is not null as is_registered
from derived
left join registry as registered
    on derived.identity_key = registered.identity_key
left join registry as registered_anchor
    on derived.anchor_key = registered_anchor.identity_key
