{# Stable SFE asset id from the asset's anchoring identity key (e.g. 'mpan|gb|1681912991822' or
   'eac_unit_name|neso|T_ABCD-1'): the same anchor gives the same id in every build. #}
{% macro asset_id(anchor_key) -%}
    {{ dbt.concat(["'ast_'", "substring(" ~ dbt.hash(anchor_key) ~ ", 1, 16)"]) }}
{%- endmacro %}

{# Identity of a unit reference: the kind of id, the namespace it is unique in (the operator that
   issues it; 'gb' for MPANs and BM units, which are national) and the reference itself. #}
{% macro asset_identity_key(ref_type, ref_namespace, ref) -%}
    {{ dbt.concat([ref_type, "'|'", ref_namespace, "'|'", ref]) }}
{%- endmacro %}

{# Namespace a unit reference is unique in: MPANs and BM units are national ('gb'); every other
   reference is the issuing operator's own id (EAC unit names at NESO, fu_ids at UKPN, asset refs at
   each DNO). #}
{% macro ref_namespace(ref_type, operator_id) -%}
    case when {{ ref_type }} in ('mpan', 'bm_unit') then 'gb' else {{ operator_id }} end
{%- endmacro %}
