{# No two rows share the values of `columns`. Groups on the columns themselves: at 10^8 rows this is far
   cheaper than `unique` over a concatenated string, which builds a string per row and spills. Use it
   where every column is also tested not_null (a null groups with other nulls here). #}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
