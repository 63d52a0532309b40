-- One row per physical asset (int_asset_crosswalk): every registered asset, and every asset derived
-- from the ids the sources use. Registered attributes (registry snapshot) win; otherwise attributes
-- come from what the sources say about the asset's ids, and what no source says stays null (lat/lon)
-- or 'unknown' (asset_type, size_band).
with crosswalk as (
    select * from {{ ref('int_asset_crosswalk') }}
),

observations as (
    select
        o.*,
        c.asset_id
    from {{ ref('int_asset_observations') }} as o
    inner join crosswalk as c
        on o.identity_key = c.identity_key
),

anchors as (
    select
        asset_id,
        min(anchor_key) as anchor_key,
        min(case when ref_type = 'mpan' then source_asset_ref end) as mpan,
        max(case when is_registered then 1 else 0 end) = 1 as is_registered,
        max(registry_asset_id) as registry_asset_id,
        count(*) as identity_count
    from crosswalk
    group by asset_id
),

-- The asset's display name: its most widely known market id (EAC unit name, BM unit, UKPN fu_id,
-- competition asset ref), else its MPAN.
names as (
    select
        asset_id,
        source_asset_ref as asset_name,
        row_number() over (
            partition by asset_id
            order by
                case ref_type
                    when 'eac_unit_name' then 1 when 'bm_unit' then 2 when 'ukpn_fu_id' then 3
                    when 'competition_asset_ref' then 4 when 'mpan' then 5 else 6
                end,
                source_asset_ref
        ) as rn
    from crosswalk
),

ref_lists as (
    select
        asset_id,
        min(case when ref_type = 'bm_unit' then source_asset_ref end) as bm_unit,
        min(case when ref_type = 'eac_unit_name' then source_asset_ref end) as eac_unit_name,
        min(case when ref_type = 'ukpn_fu_id' then source_asset_ref end) as ukpn_fu_id,
        min(case when ref_type = 'competition_asset_ref' then source_asset_ref end) as competition_asset_ref
    from crosswalk
    group by asset_id
),

-- Most frequent value of an attribute over the asset's source rows (ties: smallest value).
owners as (
    select asset_id, participant_id,
        row_number() over (partition by asset_id order by sum(row_count) desc, participant_id) as rn
    from observations
    where participant_id is not null and participant_id <> ''
    group by asset_id, participant_id
),

types as (
    select asset_id, asset_type,
        row_number() over (
            partition by asset_id
            order by case when asset_type = 'other' then 1 else 0 end, sum(row_count) desc, asset_type
        ) as rn
    from observations
    where asset_type is not null
    group by asset_id, asset_type
),

zones as (
    select asset_id, flex_zone,
        row_number() over (partition by asset_id order by sum(row_count) desc, flex_zone) as rn
    from observations
    where flex_zone is not null
    group by asset_id, flex_zone
),

licence_areas as (
    select asset_id, licence_area,
        row_number() over (partition by asset_id order by sum(row_count) desc, licence_area) as rn
    from observations
    where licence_area is not null
    group by asset_id, licence_area
),

activity as (
    select
        asset_id,
        max(case when source_id <> 'meter_readings' then max_mw end) as max_market_mw,
        max(case when source_id = 'meter_readings' then max_mw end) as max_metered_mw,
        min(first_seen_utc) as first_seen_utc,
        max(last_seen_utc) as last_seen_utc
    from observations
    group by asset_id
),

distributors as (
    select distributor_id, gsp_group from {{ ref('mpan_distributors') }}
),

dno_areas as (
    select gsp_group, dno_area from {{ ref('dno_areas') }}
),

size_bands as (
    select size_band, min_mw, max_mw from {{ ref('size_bands') }}
),

registered as (
    select
        registry_asset_id,
        asset_name,
        {{ participant_id('organisation_name') }} as owner_participant_id,
        asset_type,
        capacity_mw,
        energy_mwh,
        postcode,
        latitude,
        longitude,
        mpan,
        gsp_group,
        dno_area,
        flexibility_zone,
        registered_at_utc
    from {{ ref('stg_registry__assets') }}
),

assets as (
    select
        anchors.asset_id,
        coalesce(registered.asset_name, names.asset_name) as asset_name,
        coalesce(registered.owner_participant_id, owners.participant_id) as owner_participant_id,
        -- The registered type, else the technology the sources publish for any of the asset's ids
        -- (mapped through taxonomy source_value_mappings), else 'unknown': never guessed from names or
        -- load shapes.
        coalesce(registered.asset_type, types.asset_type, 'unknown') as asset_type,
        case
            when registered.asset_type is not null then 'registry'
            when types.asset_type = 'other' then 'unmapped_technology'
            when types.asset_type is not null then 'source_technology'
            else 'unknown'
        end as asset_type_basis,
        -- Estimate: the largest MW the markets saw (contracted, offered, instructed, settled), else the
        -- largest metered half-hourly average (site load can exceed the flexible capacity).
        case
            when registered.capacity_mw > 0 then registered.capacity_mw
            when activity.max_market_mw > 0 then activity.max_market_mw
            when activity.max_metered_mw > 0 then activity.max_metered_mw
        end as capacity_mw,
        case
            when registered.capacity_mw > 0 then 'registered'
            when activity.max_market_mw > 0 then 'max_market_mw'
            when activity.max_metered_mw > 0 then 'max_metered_mw'
        end as capacity_basis,
        activity.max_metered_mw,
        registered.energy_mwh,
        coalesce(registered.mpan, anchors.mpan) as mpan,
        -- Registered, else the MPAN's distributor id (its first two digits) names the GSP group, else
        -- the licence area of the competitions the asset bid in.
        coalesce(registered.gsp_group, registered_dno.gsp_group, distributors.gsp_group, licence_dno.gsp_group)
            as gsp_group,
        registered.dno_area as registered_dno_area,
        coalesce(registered.flexibility_zone, zones.flex_zone) as flex_zone,
        registered.latitude,
        registered.longitude,
        registered.postcode,
        anchors.registry_asset_id,
        registered.registered_at_utc,
        anchors.anchor_key,
        anchors.is_registered,
        anchors.identity_count,
        ref_lists.bm_unit,
        ref_lists.eac_unit_name,
        ref_lists.ukpn_fu_id,
        ref_lists.competition_asset_ref,
        activity.first_seen_utc,
        activity.last_seen_utc
    from anchors
    left join names on anchors.asset_id = names.asset_id and names.rn = 1
    left join owners on anchors.asset_id = owners.asset_id and owners.rn = 1
    left join types on anchors.asset_id = types.asset_id and types.rn = 1
    left join zones on anchors.asset_id = zones.asset_id and zones.rn = 1
    left join licence_areas on anchors.asset_id = licence_areas.asset_id and licence_areas.rn = 1
    left join activity on anchors.asset_id = activity.asset_id
    left join ref_lists on anchors.asset_id = ref_lists.asset_id
    left join registered on anchors.registry_asset_id = registered.registry_asset_id
    left join dno_areas as registered_dno on registered.dno_area = registered_dno.dno_area
    left join distributors on substring(coalesce(registered.mpan, anchors.mpan), 1, 2) = distributors.distributor_id
    left join dno_areas as licence_dno on licence_areas.licence_area = licence_dno.dno_area
)

select
    assets.asset_id,
    assets.asset_name,
    assets.owner_participant_id,
    assets.asset_type,
    assets.capacity_mw,
    coalesce(size_bands.size_band, 'unknown') as size_band,
    assets.mpan as connection_point,
    assets.gsp_group,
    coalesce(assets.registered_dno_area, dno_areas.dno_area) as dno_area,
    assets.flex_zone,
    assets.latitude as lat,
    assets.longitude as lon,
    assets.mpan,
    assets.capacity_basis,
    assets.asset_type_basis,
    assets.max_metered_mw,
    assets.bm_unit,
    assets.eac_unit_name,
    assets.ukpn_fu_id,
    assets.competition_asset_ref,
    assets.anchor_key,
    assets.is_registered,
    assets.registry_asset_id,
    assets.energy_mwh,
    assets.postcode,
    assets.registered_at_utc,
    assets.identity_count,
    assets.first_seen_utc,
    assets.last_seen_utc
from assets
left join size_bands
    on assets.capacity_mw >= size_bands.min_mw
    and assets.capacity_mw < size_bands.max_mw
left join dno_areas
    on assets.gsp_group = dno_areas.gsp_group
