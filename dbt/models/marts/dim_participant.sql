-- Market participants: every company a source names (flexibility service providers and the
-- companies in NESO results), one row per participant_id however the sources spell the name, plus
-- the operators of taxonomy/operators.csv (system operators; participant_id = operator_id).
with names as (
    select * from {{ ref('int_participant_names') }}
),

spellings as (
    select
        participant_id,
        participant_name,
        sum(row_count) as row_count,
        row_number() over (partition by participant_id order by sum(row_count) desc, participant_name) as rn
    from names
    group by participant_id, participant_name
),

companies as (
    select
        participant_id,
        count(*) as name_variants,
        {{ dbt.listagg('participant_name', "' | '", 'order by participant_name') }} as names_seen
    from spellings
    group by participant_id
),

company_sources as (
    select participant_id, count(distinct source_id) as source_count
    from names
    group by participant_id
),

operators as (
    select * from {{ ref('operators') }}
)

select
    cast(spellings.participant_id as varchar) as participant_id,
    cast(spellings.participant_name as varchar) as participant_name,
    'fsp' as role,
    cast(companies.name_variants as bigint) as name_variants,
    cast(companies.names_seen as varchar) as names_seen,
    cast(company_sources.source_count as bigint) as source_count
from spellings
inner join companies
    on spellings.participant_id = companies.participant_id
inner join company_sources
    on spellings.participant_id = company_sources.participant_id
where spellings.rn = 1

union all

select
    cast(operator_id as varchar) as participant_id,
    cast(operator_name as varchar) as participant_name,
    cast(role as varchar) as role,
    cast(1 as bigint) as name_variants,
    cast(operator_name as varchar) as names_seen,
    cast(0 as bigint) as source_count
from operators
