{# A stable id from a display name: 'Axle Energy Limited' -> 'axle_energy_limited'. #}
{% macro slugify(expr) -%}
    trim(regexp_replace(lower(trim({{ expr }})), '[^0-9a-z]+', '_', 'g'), '_')
{%- endmacro %}
