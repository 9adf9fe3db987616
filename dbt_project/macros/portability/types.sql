{#- An 8-byte float on every adapter. dbt.type_float() is `float`, which is 4 bytes on
    DuckDB and Spark but 8 on PostgreSQL; probabilities and weights need the same
    precision everywhere for results to compare across engines. -#}
{% macro ferry_type_double() -%}
    {{ return(adapter.dispatch('ferry_type_double', 'ferry')()) }}
{%- endmacro %}

{% macro default__ferry_type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__ferry_type_double() -%}
    double
{%- endmacro %}
