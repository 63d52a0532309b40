{# Tests of the incremental facts on incremental runs (docs/incremental.md).

   A model may declare meta.incremental_test_scope: a condition on its rows selecting those not yet
   tested (the partitions rebuilt since the last build whose tests all passed). Its generic tests then
   check those rows only: rows of a partition that passed them and has not changed since pass again. A
   model rebuilt whole (first build, --full-refresh, a lookup change) has every row untested, so a full
   build always tests everything. This is only exact where every test's verdict on a row depends on
   the row's own partition alone: the models that declare a scope have keys whose rows all lie in one
   partition (see each model). var('incremental_tests') = 'all' tests every row on every run. #}

{% macro duckdb__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set scope = _incremental_test_scope(relation) -%}
    {%- set conditions = [where, scope] | select | list -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | map('string') | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}


{% macro _incremental_test_scope(relation) -%}
    {%- if not execute or var('incremental_tests', 'changed') != 'changed' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set node = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if not node or node.alias != relation.identifier or not node.config.meta.get('incremental_test_scope') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if not _state_exists(node.name ~ '__untested') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return('(' ~ node.config.meta['incremental_test_scope'] ~ ')') }}
{%- endmacro %}


{# on-run-end: a model whose generic tests all ran in this invocation and passed has every row
   tested: its __built state becomes its __tested state. #}
{% macro incremental_mark_tested(results) -%}
    {%- if execute -%}
        {%- set passed = {} -%}
        {%- for result in results if result.node.resource_type == 'test' -%}
            {%- do passed.update({result.node.unique_id: result.status in ('pass', 'warn')}) -%}
        {%- endfor -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.config.meta.get('incremental_test_scope') -%}
            {%- set tests = graph.nodes.values() | selectattr('resource_type', 'equalto', 'test')
                | selectattr('attached_node', 'equalto', node.unique_id) | list -%}
            {%- set not_passed = [] -%}
            {%- for test in tests if not passed.get(test.unique_id, false) -%}
                {%- do not_passed.append(test.unique_id) -%}
            {%- endfor -%}
            {%- if tests and not not_passed and _state_exists(node.name ~ '__built') -%}
                {%- do run_query(
                    "create or replace table " ~ incremental_state_table('tested', node.name)
                    ~ " as select * from " ~ incremental_state_table('built', node.name)) -%}
                {%- do log(node.name ~ ": every row tested", info=false) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
