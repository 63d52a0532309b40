-- Every product value seen in any source, mapped to a product_id of the taxonomy WITHIN the market of
-- the row: the market of a row is its operator's default market (taxonomy/operators.csv).
-- Lookup order:
--   1. source_value_mappings of this source and field whose target product belongs to the market
--      (an admin's override from the registry replaces the file's row for the same key);
--   2. source_value_mappings of any source of the same market (when they name exactly one product);
--   3. the product of the market whose product_name equals the value (after normalise_value);
--   4. otherwise a placeholder product '<market>__unmapped__<slug>' (is_mapped = false) so the rows
--      stay visible (never dropped) and an admin can map the value.
-- Spellings that normalise alike ('Day Ahead', 'Day-Ahead') map alike but stay separate rows here;
-- a null source value is the empty string.
with operators as (
    select operator_id, default_market_id as market_id
    from {{ ref('operators') }}
),

products as (
    select product_id, market_id, {{ normalise_value('product_name') }} as name_key
    from {{ ref('products') }}
),

-- Values an admin mapped in the app (registry snapshot): per key the newest override in force wins
-- over the versioned file, until `sfe taxonomy export-overrides` merges it into the file.
overrides as (
    select
        source_id,
        field,
        {{ normalise_value('source_value') }} as value_key,
        target_value
    from {{ ref('stg_registry__taxonomy_mapping_overrides') }}
    where target_kind = 'product_id'
    qualify row_number() over (
        partition by source_id, field, {{ normalise_value('source_value') }}
        order by created_at_utc desc, target_value
    ) = 1
),

file_mappings as (
    select distinct
        m.source_id,
        m.field,
        {{ normalise_value('m.source_value') }} as value_key,
        m.target_value
    from {{ ref('source_value_mappings') }} as m
    where m.target_kind = 'product_id'
),

mappings as (
    select o.source_id, o.field, o.value_key, p.product_id, p.market_id
    from overrides as o
    inner join products as p
        on o.target_value = p.product_id

    union all

    select f.source_id, f.field, f.value_key, p.product_id, p.market_id
    from file_mappings as f
    inner join products as p
        on f.target_value = p.product_id
    where not exists (
        select 1 from overrides as o
        where o.source_id = f.source_id and o.field = f.field and o.value_key = f.value_key
    )
),

market_mappings as (
    select market_id, value_key, min(product_id) as product_id
    from mappings
    group by market_id, value_key
    having count(distinct product_id) = 1
),

name_matches as (
    select market_id, name_key, min(product_id) as product_id
    from products
    group by market_id, name_key
    having count(*) = 1
),

seen as (
    select 'neso_eac_results' as source_id, 'auctionProduct' as field, 'neso' as operator_id,
        auction_product_code as source_value, count(*) as row_count
    from {{ ref('stg_neso_eac_results__auction_results') }}
    group by 1, 2, 3, 4

    union all

    select 'neso_eac_unit_results', 'auctionProduct', operator_id, auction_product_code, count(*)
    from {{ ref('stg_neso_eac_unit_results__unit_results') }}
    group by 1, 2, 3, 4

    union all

    select 'ukpn_flexibility_dispatches', 'product', 'ukpn', product_source_value, count(*)
    from {{ ref('stg_ukpn_flexibility_dispatches__dispatches') }}
    group by 1, 2, 3, 4

    union all

    select 'dno_flex_competitions', 'product', operator_id, product_source_value, count(*)
    from {{ ref('stg_dno_flex_competitions__competitions') }}
    group by 1, 2, 3, 4

    union all

    select 'so_dispatch_instructions', 'product', operator_id, product_source_value, count(*)
    from {{ ref('stg_so_dispatch_instructions__instructions') }}
    group by 1, 2, 3, 4

    union all

    select 'so_settlement_statements', 'product', operator_id, product_source_value, count(*)
    from {{ ref('stg_so_settlement_statements__lines') }}
    group by 1, 2, 3, 4
),

keyed as (
    select
        seen.source_id,
        seen.field,
        seen.operator_id,
        operators.market_id,
        coalesce(seen.source_value, '') as source_value,
        {{ normalise_value("coalesce(seen.source_value, '')") }} as value_key,
        sum(seen.row_count) as row_count
    from seen
    left join operators
        on seen.operator_id = operators.operator_id
    group by 1, 2, 3, 4, 5, 6
)

select
    keyed.source_id,
    keyed.field,
    keyed.operator_id,
    keyed.market_id,
    keyed.source_value,
    keyed.value_key,
    keyed.row_count,
    coalesce(
        source_mappings.product_id,
        market_mappings.product_id,
        name_matches.product_id,
        {{ unmapped_product_id('keyed.market_id', 'keyed.value_key') }}
    ) as product_id,
    case
        when source_mappings.product_id is not null then 'source_value_mapping'
        when market_mappings.product_id is not null then 'market_value_mapping'
        when name_matches.product_id is not null then 'product_name'
        else 'unmapped'
    end as mapped_by,
    coalesce(source_mappings.product_id, market_mappings.product_id, name_matches.product_id) is not null
        as is_mapped
from keyed
left join mappings as source_mappings
    on keyed.source_id = source_mappings.source_id
    and keyed.field = source_mappings.field
    and keyed.value_key = source_mappings.value_key
    and keyed.market_id = source_mappings.market_id
left join market_mappings
    on keyed.market_id = market_mappings.market_id
    and keyed.value_key = market_mappings.value_key
left join name_matches
    on keyed.market_id = name_matches.market_id
    and keyed.value_key = name_matches.name_key
