{#- Email normalisation: lowercased and trimmed (tabs and newlines too); empty -> null. -#}
{% macro normalize_email(column) -%}
    nullif(lower({{ trim_whitespace(column) }}), '')
{%- endmacro %}

{#- Why an email cannot be used: missing, invalid_syntax, placeholder (test@test.com...), or null when fine.
    DuckDB: email-validator through the ferry_normalize plugin; elsewhere: portable LIKE rules. -#}
{% macro email_invalid_reason(column) -%}
    {{ return(adapter.dispatch('email_invalid_reason', 'ferry')(column)) }}
{%- endmacro %}

{#- Nulls never reach Python: most web events carry no email, and a UDF call per row
    is the expensive part of staging at scale. -#}
{% macro duckdb__email_invalid_reason(column) -%}
    case when {{ column }} is null then 'missing' else ferry_email_invalid_reason({{ column }}) end
{%- endmacro %}

{% macro default__email_invalid_reason(column) -%}
    {%- set e = normalize_email(column) -%}
    case
        when {{ e }} is null then 'missing'
        when {{ e }} not like '%_@_%._%'
            or {{ e }} like '%@%@%'
            or {{ e }} like '% %'
            or {{ e }} like '%..%'
            or {{ e }} like '%@.%'
            or {{ e }} like '%.' then 'invalid_syntax'
        when {{ e }} in ('test@test.com', 'a@a.com', 'none@none.com', 'no@no.com', 'x@x.com')
            or {{ e }} like '%@example.com'
            or {{ e }} like '%@test.com'
            or {{ e }} like 'noreply@%' then 'placeholder'
    end
{%- endmacro %}

{#- The three columns every staging model exposes for an email field. -#}
{% macro email_fields(column, prefix='email') -%}
    {{ normalize_email(column) }} as {{ prefix }},
    {{ email_invalid_reason(column) }} is null as {{ prefix }}_is_valid,
    {{ email_invalid_reason(column) }} as {{ prefix }}_invalid_reason
{%- endmacro %}
