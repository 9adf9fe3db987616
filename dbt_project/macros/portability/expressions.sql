{#- Scalar spellings that differ between warehouses, for SQL generated from marketers'
    rules (orchestration/audience_rules) and for any model that needs the same meaning
    everywhere. Each takes SQL expressions as text and returns SQL text; the default is
    DuckDB's meaning, the adapter versions reproduce it. -#}

{#- a / b as a real division. PostgreSQL divides two integers to an integer
    (7 / 2 = 3); DuckDB and Spark give 3.5. -#}
{% macro ferry_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('ferry_divide', 'ferry')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__ferry_divide(numerator, denominator) -%}
    ({{ numerator }}) / ({{ denominator }})
{%- endmacro %}

{% macro postgres__ferry_divide(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / ({{ denominator }})
{%- endmacro %}

{#- round(x, digits). PostgreSQL has no round(double precision, integer): round as
    numeric there (and back to a float, so comparisons keep their type). -#}
{% macro ferry_round(expression, digits) -%}
    {{ return(adapter.dispatch('ferry_round', 'ferry')(expression, digits)) }}
{%- endmacro %}

{% macro default__ferry_round(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{% macro postgres__ferry_round(expression, digits) -%}
    cast(round(cast({{ expression }} as numeric), {{ digits }}) as double precision)
{%- endmacro %}

{#- concat() that skips nulls, as on DuckDB and PostgreSQL; Spark's concat() is null as
    soon as one argument is. -#}
{% macro ferry_concat(parts) -%}
    {{ return(adapter.dispatch('ferry_concat', 'ferry')(parts)) }}
{%- endmacro %}

{% macro default__ferry_concat(parts) -%}
    concat({{ parts | join(', ') }})
{%- endmacro %}

{% macro spark__ferry_concat(parts) -%}
    concat(
    {%- for part in parts -%}
        coalesce(cast({{ part }} as string), ''){{ ', ' if not loop.last }}
    {%- endfor -%}
    )
{%- endmacro %}

{#- A string literal holding `value` (plain text, not SQL). The standard doubles a quote
    ('it''s') and takes backslashes as they are (DuckDB; PostgreSQL with
    standard_conforming_strings). Spark's parser pairs a backslash with the next
    character even with spark.sql.parser.escapedStringLiterals on (profiles.yml), which
    then keeps both, and reads 'it''s' as 'it''s': quotes and backslashes are spliced in
    with chr(39) and chr(92). -#}
{% macro ferry_string_literal(value) -%}
    {{ return(adapter.dispatch('ferry_string_literal', 'ferry')(value)) }}
{%- endmacro %}

{% macro default__ferry_string_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__ferry_string_literal(value) -%}
    {%- set parts = [] -%}
    {%- set text = namespace(run='') -%}
    {%- for character in value -%}
        {%- if character in ["'", "\\"] -%}
            {%- do parts.append("'" ~ text.run ~ "'") -%}
            {%- do parts.append('chr(' ~ (39 if character == "'" else 92) ~ ')') -%}
            {%- set text.run = '' -%}
        {%- else -%}
            {%- set text.run = text.run ~ character -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if parts -%}
        concat({{ parts | join(', ') }}, '{{ text.run }}')
    {%- else -%}
        '{{ value }}'
    {%- endif -%}
{%- endmacro %}
