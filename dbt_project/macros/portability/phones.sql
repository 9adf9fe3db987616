{#- Length rule for the portable phone fallback (default__phone_e164 in
    macros/normalize/phones.sql, used on PostgreSQL, Spark and every adapter but DuckDB).

    Why: DuckDB validates numbers with libphonenumber (plugins/ferry_normalize.py); the
    portable SQL cannot know number ranges, but it can know how many digits the national
    significant number has in the countries of calling_code(). Without it a French number
    with two extra digits passes as valid on PostgreSQL and links people DuckDB keeps apart.
    Other calling codes keep the E.164 bounds (8 to 15 digits after '+'). -#}
{% macro portable_phone_length_ok(candidate) -%}
    {%- set nsn_lengths = [
        ('+352', 4, 11), ('+351', 9, 9), ('+353', 7, 9),
        ('+33', 9, 9), ('+32', 8, 9), ('+49', 6, 13), ('+44', 9, 10), ('+34', 9, 9),
        ('+39', 6, 11), ('+31', 9, 9), ('+41', 9, 9), ('+1', 10, 10),
    ] -%}
    case
        {%- for prefix, low, high in nsn_lengths %}
        when {{ candidate }} like '{{ prefix }}%' then length({{ candidate }}) - {{ prefix | length }} between {{ low }} and {{ high }}
        {%- endfor %}
        else length({{ candidate }}) between 9 and 16
    end
{%- endmacro %}
