-- Every company name any source writes, with the participant id it resolves to (participant_id macro:
-- case, punctuation and a trailing 'Limited'/'Ltd' do not matter) and how often each source uses it.
with names as (
    select 'ukpn_flexibility_dispatches' as source_id, company_name as participant_name, count(*) as row_count
    from {{ ref('stg_ukpn_flexibility_dispatches__dispatches') }}
    group by 1, 2

    union all

    select 'neso_eac_unit_results', company_name, count(*)
    from {{ ref('stg_neso_eac_unit_results__unit_results') }}
    group by 1, 2

    union all

    select 'dno_flex_competitions', company_name, count(*)
    from {{ ref('stg_dno_flex_competitions__bids') }}
    group by 1, 2

    union all

    select 'dno_flex_competitions', seller_company, count(*)
    from {{ ref('stg_dno_flex_competitions__resales') }}
    group by 1, 2

    union all

    select 'dno_flex_competitions', buyer_company, count(*)
    from {{ ref('stg_dno_flex_competitions__resales') }}
    group by 1, 2

    union all

    select 'so_dispatch_instructions', participant_name, count(*)
    from {{ ref('stg_so_dispatch_instructions__instructions') }}
    group by 1, 2

    union all

    select 'so_settlement_statements', participant_name, count(*)
    from {{ ref('stg_so_settlement_statements__lines') }}
    group by 1, 2

    union all

    -- Registered flexibility service providers, and every organisation that registered an asset.
    select 'registry', organisation_name, count(*)
    from {{ ref('stg_registry__organisations') }}
    where organisation_kind = 'fsp'
    group by 1, 2

    union all

    select 'registry', organisation_name, count(*)
    from {{ ref('stg_registry__assets') }}
    group by 1, 2
)

select
    source_id,
    participant_name,
    {{ participant_id('participant_name') }} as participant_id,
    cast(sum(row_count) as bigint) as row_count
from names
where participant_name is not null
    and trim(participant_name) <> ''
group by 1, 2, 3
