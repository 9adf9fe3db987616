{#- What a model selects from a table another process creates (a connector's pulled
    engagement, the sync engine's ledger), which has no registry contract: the table,
    or, until it first exists, an empty relation with these columns, so the build does
    not fail before the first pull or sync. `columns`: name -> SQL type, in order. -#}
{% macro ferry_source_or_empty(relation, columns) -%}
    {%- if not execute or load_relation(relation) is not none -%}
    select * from {{ relation }}
    {%- else -%}
    select
    {%- for name, type in columns.items() %}
        cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
    where 1 = 0
    {%- endif %}
{%- endmacro %}
