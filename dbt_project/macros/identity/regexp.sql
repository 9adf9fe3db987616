{#- Regular-expression match, which every engine spells differently. -#}
{% macro ferry_regexp_like(expression, pattern) -%}
    {{ return(adapter.dispatch('ferry_regexp_like', 'ferry')(expression, pattern)) }}
{%- endmacro %}

{% macro default__ferry_regexp_like(expression, pattern) -%}
    regexp_like({{ expression }}, {{ pattern }})
{%- endmacro %}

{% macro duckdb__ferry_regexp_like(expression, pattern) -%}
    regexp_matches({{ expression }}, {{ pattern }})
{%- endmacro %}

{% macro postgres__ferry_regexp_like(expression, pattern) -%}
    ({{ expression }} ~ {{ pattern }})
{%- endmacro %}

{% macro spark__ferry_regexp_like(expression, pattern) -%}
    ({{ expression }} rlike {{ pattern }})
{%- endmacro %}
