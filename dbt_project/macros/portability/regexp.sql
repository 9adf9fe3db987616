{#- Replace every match of a regular expression. PostgreSQL and DuckDB replace the
    first match unless given the 'g' flag; Spark always replaces all. -#}
{% macro ferry_regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('ferry_regexp_replace_all', 'ferry')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__ferry_regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{% macro spark__ferry_regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}
