{#- Text value of a top-level key of a JSON string column. -#}
{% macro ferry_json_text(json_column, key) -%}
    {{ return(adapter.dispatch('ferry_json_text', 'ferry')(json_column, key)) }}
{%- endmacro %}

{% macro default__ferry_json_text(json_column, key) -%}
    json_value({{ json_column }}, '$.{{ key }}')
{%- endmacro %}

{% macro duckdb__ferry_json_text(json_column, key) -%}
    json_extract_string({{ json_column }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__ferry_json_text(json_column, key) -%}
    (cast({{ json_column }} as json) ->> '{{ key }}')
{%- endmacro %}

{% macro spark__ferry_json_text(json_column, key) -%}
    get_json_object({{ json_column }}, '$.{{ key }}')
{%- endmacro %}
