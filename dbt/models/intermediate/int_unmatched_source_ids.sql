-- Source ids the crosswalk could not tie to another id of the same physical asset, with the reason:
--   no_mpan_link     a market reference no settlement line ties to an MPAN (its own asset);
--   ambiguous_mpan   a reference settled against two or more MPANs: reported, not guessed (own asset);
--   metering_only    an MPAN with readings that no market reference points at (its own asset).
-- The admin resolves these (later: by registering the asset once, UC3).
with crosswalk as (
    select * from {{ ref('int_asset_crosswalk') }}
),

observations as (
    select * from {{ ref('int_asset_observations') }}
),

sources as (
    select identity_key, count(distinct source_id) as source_count, min(source_id) as first_source_id
    from observations
    group by identity_key
),

candidate_mpans as (
    select identity_key, {{ dbt.listagg('mpan', "', '", "order by mpan") }} as candidate_mpans
    from (
        select distinct identity_key, mpan from observations
        where mpan is not null and ref_type <> 'mpan'
    ) as links
    group by identity_key
),

asset_members as (
    select asset_id, count(*) as identities
    from crosswalk
    group by asset_id
)

select
    c.identity_key,
    c.ref_type,
    c.ref_namespace,
    c.source_asset_ref,
    c.asset_id,
    case
        when c.match_status = 'ambiguous_mpan' then 'ambiguous_mpan'
        when c.match_status = 'unmatched' then 'no_mpan_link'
        else 'metering_only'
    end as reason,
    case
        when c.match_status = 'ambiguous_mpan'
            then 'settled against ' || cast(c.linked_mpans as varchar) || ' MPANs: ' || m.candidate_mpans
        when c.match_status = 'unmatched'
            then 'no settlement line ties this ' || c.ref_type || ' to an MPAN'
        else 'MPAN with readings but no market reference'
    end as detail,
    m.candidate_mpans,
    s.source_count,
    s.first_source_id,
    c.row_count
from crosswalk as c
inner join asset_members as a
    on c.asset_id = a.asset_id
left join candidate_mpans as m
    on c.identity_key = m.identity_key
left join sources as s
    on c.identity_key = s.identity_key
where c.match_status in ('ambiguous_mpan', 'unmatched')
    or (c.match_status = 'is_mpan' and a.identities = 1)
