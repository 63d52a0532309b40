{# Canonical spelling of a source vocabulary value: lower case, runs of non-alphanumerics -> one
   space, trimmed. Must match sfe.taxonomy.normalise_value in Python. #}
{% macro normalise_value(expr) -%}
    trim(regexp_replace(lower({{ expr }}), '[^0-9a-z]+', ' ', 'g'))
{%- endmacro %}
