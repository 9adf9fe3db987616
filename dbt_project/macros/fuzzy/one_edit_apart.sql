{#- True when two national ids are one slip of the keyboard apart (a digit
    mistyped, dropped, added or two swapped): the same person's number typed again.
    DuckDB compares them; other adapters count only equal values (a mistyped id then
    contradicts, and the pair waits for review). -#}
{% macro ferry_one_edit_apart(a, b) -%}
    {{ return(adapter.dispatch('ferry_one_edit_apart')(a, b)) }}
{%- endmacro %}

{% macro default__ferry_one_edit_apart(a, b) -%}
    ({{ a }} = {{ b }})
{%- endmacro %}

{% macro duckdb__ferry_one_edit_apart(a, b) -%}
    (damerau_levenshtein({{ a }}, {{ b }}) <= 1)
{%- endmacro %}
