{#- Trim spaces, tabs and line breaks (SQL trim() alone only removes spaces). -#}
{% macro trim_whitespace(column) -%}
    trim(replace(replace(replace({{ column }}, chr(9), ' '), chr(10), ' '), chr(13), ' '))
{%- endmacro %}

{#- Trimmed text with empty strings as null (form tools send '' for missing). -#}
{% macro clean_text(column) -%}
    nullif({{ trim_whitespace(column) }}, '')
{%- endmacro %}

{#- Hex SHA-256 of a value, as ad platforms expect for customer matching. -#}
{% macro sha256_hex(column) -%}
    {{ return(adapter.dispatch('sha256_hex', 'ferry')(column)) }}
{%- endmacro %}

{% macro default__sha256_hex(column) -%}
    sha256({{ column }})
{%- endmacro %}

{% macro postgres__sha256_hex(column) -%}
    encode(sha256(convert_to({{ column }}, 'UTF8')), 'hex')
{%- endmacro %}

{% macro spark__sha256_hex(column) -%}
    sha2({{ column }}, 256)
{%- endmacro %}
