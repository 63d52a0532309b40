-- Every operator a source names (SO of an instruction, a settlement statement, a DNO competition) is
-- in taxonomy/operators.csv, which gives it its market. Returns the unknown ones: add them to the
-- taxonomy (their rows are otherwise without market).
with named as (
    select distinct 'so_dispatch_instructions' as source_id, operator_id
    from {{ ref('stg_so_dispatch_instructions__instructions') }}
    union
    select distinct 'so_settlement_statements', operator_id
    from {{ ref('stg_so_settlement_statements__lines') }}
    union
    select distinct 'dno_flex_competitions', operator_id
    from {{ ref('stg_dno_flex_competitions__competitions') }}
)

select named.source_id, named.operator_id
from named
left join {{ ref('operators') }} as operators
    on named.operator_id = operators.operator_id
where operators.operator_id is null
