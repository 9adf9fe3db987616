{#- Phone normalisation to E.164 with a default region for national numbers
    (var default_phone_region). Invalid numbers are kept (trimmed, as typed) and flagged. -#}

{% macro phone_e164(column, region=none) -%}
    {%- set region = region or var('default_phone_region', 'FR') -%}
    {{ return(adapter.dispatch('phone_e164', 'ferry')(column, region)) }}
{%- endmacro %}

{% macro duckdb__phone_e164(column, region) -%}
    case when {{ column }} is not null then ferry_phone_e164({{ column }}, '{{ region }}') end
{%- endmacro %}

{#- Portable fallback: strip separators, 00 -> +, national trunk 0 -> +<calling code>,
    then a length check. Good enough for well-formed input; no number-range validation. -#}
{% macro default__phone_e164(column, region) -%}
    {%- set d = phone_strip(column) -%}
    case
        when {{ d }} is null or {{ d }} = '' then null
        when {{ phone_portable_candidate(d, region) }} is null then null
        when translate({{ phone_portable_candidate(d, region) }}, '+0123456789', '') <> '' then null
        when not ({{ portable_phone_length_ok(phone_portable_candidate(d, region)) }}) then null
        when translate(substr({{ d }}, 2), '0', '') = '' then null
        else {{ phone_portable_candidate(d, region) }}
    end
{%- endmacro %}

{% macro phone_invalid_reason(column, region=none) -%}
    {%- set region = region or var('default_phone_region', 'FR') -%}
    {{ return(adapter.dispatch('phone_invalid_reason', 'ferry')(column, region)) }}
{%- endmacro %}

{% macro duckdb__phone_invalid_reason(column, region) -%}
    case when {{ column }} is null then 'missing' else ferry_phone_invalid_reason({{ column }}, '{{ region }}') end
{%- endmacro %}

{% macro default__phone_invalid_reason(column, region) -%}
    {%- set d = phone_strip(column) -%}
    case
        when {{ d }} is null or {{ d }} = '' then 'missing'
        when translate(replace({{ d }}, '+', ''), '0', '') = '' then 'placeholder'
        when translate({{ d }}, '+0123456789', '') <> '' then 'unparseable'
        when {{ default__phone_e164(column, region) }} is null then 'wrong_length'
    end
{%- endmacro %}

{% macro phone_strip(column) -%}
    replace(replace(replace(replace(replace(replace(replace({{ trim_whitespace(column) }}, ' ', ''), '.', ''), '-', ''), '(', ''), ')', ''), '/', ''), chr(160), '')
{%- endmacro %}

{% macro phone_portable_candidate(d, region) -%}
    case
        when {{ d }} like '+%' then {{ d }}
        when {{ d }} like '00%' then '+' || substr({{ d }}, 3)
        when {{ d }} like '0%' then '+{{ calling_code(region) }}' || substr({{ d }}, 2)
    end
{%- endmacro %}

{% macro calling_code(region) -%}
    {%- set codes = {'FR': '33', 'BE': '32', 'DE': '49', 'GB': '44', 'ES': '34', 'IT': '39', 'NL': '31', 'CH': '41', 'LU': '352', 'US': '1', 'CA': '1', 'IE': '353', 'PT': '351'} -%}
    {%- if region | upper not in codes -%}
        {{ exceptions.raise_compiler_error("calling_code: unknown region '" ~ region ~ "' (var default_phone_region); add it to macros/normalize/phones.sql") }}
    {%- endif -%}
    {{ codes[region | upper] }}
{%- endmacro %}

{#- The four columns every staging model exposes for a phone field: phone is E.164
    when valid, else the trimmed raw value (kept, flagged, never used to link). -#}
{% macro phone_fields(column, prefix='phone', region=none) -%}
    coalesce({{ phone_e164(column, region) }}, nullif({{ trim_whitespace(column) }}, '')) as {{ prefix }},
    {{ phone_invalid_reason(column, region) }} is null as {{ prefix }}_is_valid,
    {{ phone_invalid_reason(column, region) }} as {{ prefix }}_invalid_reason
{%- endmacro %}
