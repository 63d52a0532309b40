{# Placeholder product for a source value the taxonomy does not map yet: '<market>__unmapped__<slug>'. #}
{% macro unmapped_product_id(market_id, value_key) -%}
    {{ dbt.concat([market_id, "'__unmapped__'", "coalesce(nullif(" ~ slugify(value_key) ~ ", ''), 'blank')"]) }}
{%- endmacro %}
