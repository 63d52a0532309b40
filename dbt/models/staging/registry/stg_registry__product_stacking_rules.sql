-- Registry snapshot: the product rules in force that forbid stacking (exclusivity, stacking with
-- allowed = false), one row per rule and other product it names (an empty table of the declared columns
-- when the file is absent).
{{ registry_snapshot('product_stacking_rules') }}
