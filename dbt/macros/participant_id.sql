{# The participant id of a company name as written in any source: slugified, so case, punctuation and
   spacing do not matter ('ev.energy' = 'Ev.energy'), and a trailing 'Limited' counts as 'Ltd'
   ('Peakmoor Generation Limited' = 'Peakmoor Generation Ltd'). #}
{% macro participant_id(expr) -%}
    regexp_replace({{ slugify(expr) }}, '_limited$', '_ltd')
{%- endmacro %}
