{#- A national identification number (social security, tax or insurance number):
    uppercase letters and digits only, so '1 85 05 78 006 084 36' and
    '185057800608436' are one value. Kept like e-mails and phones (the raw table
    holds it already), never logged, and used only to link and to keep apart. -#}
{#- The separators people type (space, dash, dot, slash, underscore) go: a
    translate, which every warehouse has, where a global regexp_replace has no
    portable spelling. Anything else left over makes the value malformed. -#}
{% macro normalize_national_id(column) -%}
    nullif(upper(translate({{ clean_text(column) }}, ' -./_', '')), '')
{%- endmacro %}

{#- Why a national id is unusable, or null: too short or too long to be one, or one
    character repeated (000000000, a placeholder). -#}
{% macro national_id_invalid_reason(column) -%}
    {%- set v = normalize_national_id(column) -%}
    case
        when {{ v }} is null then 'missing'
        when {{ dbt.length(v) }} < 5 or {{ dbt.length(v) }} > 20 then 'malformed'
        when not {{ ferry_regexp_like(v, "'^[A-Z0-9]+$'") }} then 'malformed'
        when {{ v }} = repeat(substr({{ v }}, 1, 1), {{ dbt.length(v) }}) then 'placeholder'
    end
{%- endmacro %}

{#- The three columns a staging model exposes for a national id field. -#}
{% macro national_id_fields(column, prefix='national_id') -%}
    {{ normalize_national_id(column) }} as {{ prefix }},
    {{ national_id_invalid_reason(column) }} is null as {{ prefix }}_is_valid,
    {{ national_id_invalid_reason(column) }} as {{ prefix }}_invalid_reason
{%- endmacro %}
