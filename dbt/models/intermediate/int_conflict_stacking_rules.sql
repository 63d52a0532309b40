-- Stacking rules the conflict mart applies: one row per rule and pair of products. A row forbids an asset
-- to hold or deliver product_id while it holds or delivers other_product_id (null = any other product) in
-- an overlapping window; mode 'notify' warns, 'block' refuses. Rule kinds are the rules engine's
-- (sfe.rules.kinds): 'exclusivity' (exclusive with the named products) and 'stacking' with allowed = false
-- (one row per named product, or other_product_id null for "any other product").
-- Rules are data the owning SO attaches to its products in the registry (sfe.rules.store); the registry
-- snapshot exports the rules in force, in their current version (stg_registry__product_stacking_rules).
-- product_id is the warehouse's product id (taxonomy product or registry product slug, as in dim_product
-- and the facts), so rules join activities directly. The taxonomy holds no stacking rules: deriving
-- defaults from it (e.g. "one NESO service per direction") would flag units that legitimately split
-- their MW between services, so without registry rules the mart reports cross-SO conflicts only.
-- An exclusivity rule's margin (minutes before and after) widens the window it forbids: activities of the
-- two products less than margin_min apart conflict too (mart_market_conflicts reports them with
-- gap_minutes). Stacking rules have no margin (0).
with registry_rules as (
    select
        rule_id,
        rule_name,
        rule_kind,
        product_id,
        other_product_id,
        mode,
        margin_min,
        explanation
    from {{ ref('stg_registry__product_stacking_rules') }}
)

select
    cast(rule_id as varchar) as rule_id,
    cast(rule_name as varchar) as rule_name,
    cast(rule_kind as varchar) as rule_kind,
    cast(product_id as varchar) as product_id,
    cast(other_product_id as varchar) as other_product_id,
    cast(mode as varchar) as mode,
    cast(coalesce(margin_min, 0) as double) as margin_min,
    cast(explanation as varchar) as explanation,
    cast('registry' as varchar) as rule_source
from registry_rules
