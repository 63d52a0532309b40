-- Every unit reference seen in any source, with what that source says about the unit: one row per
-- source, reference and distinct set of attributes (company, technology, zone, licence area, MPAN
-- the reference is settled against), with row counts, the largest MW observed and the time span.
-- The asset crosswalk (int_asset_crosswalk) links these references to physical assets; dim_asset
-- takes its attributes from here.
with operators as (
    select operator_id, asset_ref_type from {{ ref('operators') }}
),

competitions as (
    select competition_id, operator_id, flex_zone, licence_area, service_start_utc, service_end_utc
    from {{ ref('stg_dno_flex_competitions__competitions') }}
),

unit_results as (
    select
        'neso_eac_unit_results' as source_id,
        'eac_unit_name' as ref_type,
        operator_id,
        unit_name as source_asset_ref,
        cast(null as varchar) as mpan,
        company_name as participant_name,
        'technologyType' as technology_field,
        technology_source_value,
        cast(null as varchar) as flex_zone,
        cast(null as varchar) as licence_area,
        count(*) as row_count,
        max(executed_volume_mw) as max_mw,
        min(delivery_start_utc) as first_seen_utc,
        max(delivery_end_utc) as last_seen_utc
    from {{ ref('stg_neso_eac_unit_results__unit_results') }}
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

ukpn as (
    select
        'ukpn_flexibility_dispatches' as source_id,
        'ukpn_fu_id' as ref_type,
        'ukpn' as operator_id,
        flexible_unit_id as source_asset_ref,
        cast(null as varchar) as mpan,
        company_name as participant_name,
        'technology' as technology_field,
        technology_source_value,
        flex_zone,
        cast(null as varchar) as licence_area,
        count(*) as row_count,
        max(greatest(coalesce(utilisation_mw, 0), coalesce(availability_mw, 0))) as max_mw,
        min(start_utc) as first_seen_utc,
        max(end_utc) as last_seen_utc
    from {{ ref('stg_ukpn_flexibility_dispatches__dispatches') }}
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

bids as (
    select
        'dno_flex_competitions' as source_id,
        'competition_asset_ref' as ref_type,
        c.operator_id,
        b.asset_ref as source_asset_ref,
        cast(null as varchar) as mpan,
        b.company_name as participant_name,
        cast(null as varchar) as technology_field,
        cast(null as varchar) as technology_source_value,
        c.flex_zone,
        c.licence_area,
        count(*) as row_count,
        max(b.offered_mw) as max_mw,
        min(c.service_start_utc) as first_seen_utc,
        max(c.service_end_utc) as last_seen_utc
    from {{ ref('stg_dno_flex_competitions__bids') }} as b
    left join competitions as c
        on b.competition_id = c.competition_id
    where b.asset_ref is not null
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

resale_parties as (
    select competition_id, seller_asset_ref as asset_ref, seller_company as company_name, resold_mw,
        start_utc, end_utc
    from {{ ref('stg_dno_flex_competitions__resales') }}
    where seller_asset_ref is not null

    union all

    select competition_id, buyer_asset_ref, buyer_company, resold_mw, start_utc, end_utc
    from {{ ref('stg_dno_flex_competitions__resales') }}
    where buyer_asset_ref is not null
),

resales as (
    select
        'dno_flex_competitions' as source_id,
        'competition_asset_ref' as ref_type,
        c.operator_id,
        r.asset_ref as source_asset_ref,
        cast(null as varchar) as mpan,
        r.company_name as participant_name,
        cast(null as varchar) as technology_field,
        cast(null as varchar) as technology_source_value,
        c.flex_zone,
        c.licence_area,
        count(*) as row_count,
        max(r.resold_mw) as max_mw,
        min(r.start_utc) as first_seen_utc,
        max(r.end_utc) as last_seen_utc
    from resale_parties as r
    left join competitions as c
        on r.competition_id = c.competition_id
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

instructions as (
    select
        'so_dispatch_instructions' as source_id,
        o.asset_ref_type as ref_type,
        i.operator_id,
        i.asset_ref as source_asset_ref,
        cast(null as varchar) as mpan,
        i.participant_name,
        cast(null as varchar) as technology_field,
        cast(null as varchar) as technology_source_value,
        c.flex_zone,
        c.licence_area,
        count(*) as row_count,
        max(case when i.status = 'instructed' then i.setpoint_mw end) as max_mw,
        min(i.start_utc) as first_seen_utc,
        max(i.end_utc) as last_seen_utc
    from {{ ref('stg_so_dispatch_instructions__instructions') }} as i
    left join operators as o
        on i.operator_id = o.operator_id
    left join competitions as c
        on i.competition_id = c.competition_id
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

settlement_lines as (
    select
        *,
        {{ dbt.datediff('period_start_utc', 'period_end_utc', 'second') }} / 3600.0 as period_h
    from {{ ref('stg_so_settlement_statements__lines') }}
),

settlement_refs as (
    select
        'so_settlement_statements' as source_id,
        asset_ref_type as ref_type,
        operator_id,
        asset_ref as source_asset_ref,
        mpan,
        participant_name,
        cast(null as varchar) as technology_field,
        cast(null as varchar) as technology_source_value,
        cast(null as varchar) as flex_zone,
        cast(null as varchar) as licence_area,
        count(*) as row_count,
        max(greatest(coalesce(availability_mw, 0), coalesce(instructed_mwh / nullif(period_h, 0), 0))) as max_mw,
        min(period_start_utc) as first_seen_utc,
        max(period_end_utc) as last_seen_utc
    from settlement_lines
    where asset_ref is not null
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

settlement_mpans as (
    select
        'so_settlement_statements' as source_id,
        'mpan' as ref_type,
        operator_id,
        mpan as source_asset_ref,
        mpan,
        participant_name,
        cast(null as varchar) as technology_field,
        cast(null as varchar) as technology_source_value,
        cast(null as varchar) as flex_zone,
        cast(null as varchar) as licence_area,
        count(*) as row_count,
        max(greatest(coalesce(availability_mw, 0), coalesce(instructed_mwh / nullif(period_h, 0), 0))) as max_mw,
        min(period_start_utc) as first_seen_utc,
        max(period_end_utc) as last_seen_utc
    from settlement_lines
    where mpan is not null
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

metering as (
    select
        'meter_readings' as source_id,
        'mpan' as ref_type,
        cast(null as varchar) as operator_id,
        mpan as source_asset_ref,
        mpan,
        cast(null as varchar) as participant_name,
        cast(null as varchar) as technology_field,
        cast(null as varchar) as technology_source_value,
        cast(null as varchar) as flex_zone,
        cast(null as varchar) as licence_area,
        count(*) as row_count,
        -- Half-hourly MWh x 2 = the average MW of the half hour.
        2 * max(greatest(coalesce(import_mwh, 0), coalesce(export_mwh, 0))) as max_mw,
        min(start_utc) as first_seen_utc,
        max(end_utc) as last_seen_utc
    from {{ ref('stg_meter_readings__readings') }}
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

bm_units as (
    select
        'elexon_boalf' as source_id,
        'bm_unit' as ref_type,
        'elexon' as operator_id,
        bm_unit as source_asset_ref,
        cast(null as varchar) as mpan,
        cast(null as varchar) as participant_name,
        cast(null as varchar) as technology_field,
        cast(null as varchar) as technology_source_value,
        cast(null as varchar) as flex_zone,
        cast(null as varchar) as licence_area,
        count(*) as row_count,
        max(greatest(abs(coalesce(level_from_mw, 0)), abs(coalesce(level_to_mw, 0)))) as max_mw,
        min(time_from_utc) as first_seen_utc,
        max(time_to_utc) as last_seen_utc
    from {{ ref('stg_elexon_boalf__acceptances') }}
    group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
),

observations as (
    select * from unit_results
    union all select * from ukpn
    union all select * from bids
    union all select * from resales
    union all select * from instructions
    union all select * from settlement_refs
    union all select * from settlement_mpans
    union all select * from metering
    union all select * from bm_units
),

-- Technology vocabularies -> taxonomy asset_types: this source's mapping first, else a mapping any
-- source has for the same spelling (when it names one type), else 'other' (seen but not mapped).
type_mappings as (
    select distinct
        source_id,
        field,
        {{ normalise_value('source_value') }} as value_key,
        target_value as asset_type
    from {{ ref('source_value_mappings') }}
    where target_kind = 'asset_type'
),

any_source_type_mappings as (
    select value_key, min(asset_type) as asset_type
    from type_mappings
    group by value_key
    having count(distinct asset_type) = 1
)

select
    o.source_id,
    o.ref_type,
    {{ ref_namespace('o.ref_type', 'o.operator_id') }} as ref_namespace,
    o.source_asset_ref,
    {{ asset_identity_key('o.ref_type', ref_namespace('o.ref_type', 'o.operator_id'), 'o.source_asset_ref') }}
        as identity_key,
    o.operator_id,
    o.mpan,
    o.participant_name,
    {{ participant_id('o.participant_name') }} as participant_id,
    o.technology_source_value,
    case
        when o.technology_source_value is null then null
        else coalesce(tm.asset_type, atm.asset_type, 'other')
    end as asset_type,
    o.flex_zone,
    o.licence_area,
    o.row_count,
    o.max_mw,
    o.first_seen_utc,
    o.last_seen_utc
from observations as o
left join type_mappings as tm
    on o.source_id = tm.source_id
    and o.technology_field = tm.field
    and {{ normalise_value('o.technology_source_value') }} = tm.value_key
left join any_source_type_mappings as atm
    on {{ normalise_value('o.technology_source_value') }} = atm.value_key
where o.source_asset_ref is not null
