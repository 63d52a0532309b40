-- Every product value seen in the source data, mapped through the taxonomy to a product_id.
-- A value the taxonomy does not know yet is kept (never dropped) under a placeholder product
-- '<market>__unmapped__<value>' so its rows stay visible and the admin can map it.
-- Spelling variants ('Day Ahead', 'Day-Ahead') normalise to one key: keep one row per key.
with mappings as (
    select distinct
        source_id,
        field,
        {{ normalise_value('source_value') }} as value_key,
        target_value as product_id
    from {{ ref('source_value_mappings') }}
    where target_kind = 'product_id'
),

seen as (
    select
        'neso_eac_results' as source_id,
        'auctionProduct' as field,
        'neso_eac' as market_id,
        auction_product_code as source_value,
        count(*) as row_count
    from {{ ref('stg_neso_eac_results__auction_results') }}
    group by 1, 2, 3, 4

    union all

    select
        'ukpn_flexibility_dispatches' as source_id,
        'product' as field,
        'ukpn_flex' as market_id,
        product_source_value as source_value,
        count(*) as row_count
    from {{ ref('stg_ukpn_flexibility_dispatches__dispatches') }}
    group by 1, 2, 3, 4
),

keyed as (
    select
        seen.*,
        {{ normalise_value('seen.source_value') }} as value_key
    from seen
)

select
    keyed.source_id,
    keyed.field,
    keyed.market_id,
    keyed.source_value,
    keyed.value_key,
    keyed.row_count,
    coalesce(
        mappings.product_id,
        keyed.market_id || '__unmapped__' || {{ slugify('keyed.value_key') }}
    ) as product_id,
    mappings.product_id is not null as is_mapped
from keyed
left join mappings
    on keyed.source_id = mappings.source_id
    and keyed.field = mappings.field
    and keyed.value_key = mappings.value_key
