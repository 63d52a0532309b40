-- Stacking rules the conflict mart applies: one row per rule and pair of products. A row forbids an asset
-- to hold or deliver product_id while it holds or delivers other_product_id (null = any other product) in
-- an overlapping window; mode 'notify' warns, 'block' refuses. Rule kinds are the rules engine's
-- (sfe.rules.kinds): 'exclusivity' (exclusive with the named products) and 'stacking' with allowed = false
-- (one row per named product, or other_product_id null for "any other product").
-- Rules are data the owning SO attaches to its products in the registry. The taxonomy holds no stacking
-- rules, so until the registry snapshot carries the rules this input is empty: the mart then reports
-- cross-SO conflicts only (they need no rule). Deriving defaults from the taxonomy (e.g. "one NESO
-- service per direction") would flag units that legitimately split their MW between services.
with registry_rules as (
    -- SEAM: select the registry's active exclusivity / stacking (allowed = false) rules here, one row per
    -- named product, once the registry snapshot writes them.
    select
        cast(null as varchar) as rule_id,
        cast(null as varchar) as rule_name,
        cast(null as varchar) as rule_kind,
        cast(null as varchar) as product_id,
        cast(null as varchar) as other_product_id,
        cast(null as varchar) as mode,
        cast(null as varchar) as explanation
    where 1 = 0
)

select
    cast(rule_id as varchar) as rule_id,
    cast(rule_name as varchar) as rule_name,
    cast(rule_kind as varchar) as rule_kind,
    cast(product_id as varchar) as product_id,
    cast(other_product_id as varchar) as other_product_id,
    cast(mode as varchar) as mode,
    cast(explanation as varchar) as explanation,
    cast('registry' as varchar) as rule_source
from registry_rules
