{#- Length rule for the portable phone fallback (default__phone_e164 in
    macros/normalize/phones.sql, used on PostgreSQL, Spark and every adapter but DuckDB).

    Why: DuckDB validates numbers with libphonenumber (plugins/ferry_normalize.py); the
    portable SQL cannot know number ranges, but it can know how many digits the national
    significant number has in the countries of calling_code(). Without it a French number
    with two extra digits passes as valid on PostgreSQL and links people DuckDB keeps apart.
    Other calling codes keep the E.164 bounds (8 to 15 digits after '+'). -#}
{% macro portable_phone_length_ok(candidate) -%}
    {%- set nsn_lengths = [
        ('352', 4, 11), ('351', 9, 9), ('353', 7, 9),
        ('33', 9, 9), ('32', 8, 9), ('49', 6, 13), ('44', 9, 10), ('34', 9, 9),
        ('39', 6, 11), ('31', 9, 9), ('41', 9, 9), ('1', 10, 10),
    ] -%}
    {%- set known = [] -%}
    {%- set codes = [] -%}
    {%- for code, low, high in nsn_lengths -%}
        {%- do known.append(code ~ '[0-9]{' ~ low ~ ',' ~ high ~ '}') -%}
        {%- do codes.append(code) -%}
    {%- endfor -%}
    ({{ ferry_regexp_like(candidate, "'^[+](" ~ known | join('|') ~ ")$'") }}
        or (not {{ ferry_regexp_like(candidate, "'^[+](" ~ codes | join('|') ~ ")'") }}
            and length({{ candidate }}) between 9 and 16))
{%- endmacro %}

{#- Compact portable phone rules for PostgreSQL and Spark: the same decisions as
    default__phone_e164 / default__phone_invalid_reason (macros/normalize/phones.sql),
    written with regular expressions so the stripped value is spelled a handful of
    times instead of dozens. Why: the nested replace() chains compiled a staging model
    to 130 kB of SQL, beyond the 32 kB a Hive metastore (Spark's Derby) stores for a
    view, and slow for Spark's analyzer. -#}
{% macro compact_phone_strip(column) -%}
    {{ ferry_regexp_replace_all(trim_whitespace(column), "'[ .()/' || chr(160) || '-]'", "''") }}
{%- endmacro %}

{% macro compact_phone_e164(column, region) -%}
    {%- set d = compact_phone_strip(column) -%}
    {#- +.. as is, 00.. -> +.., national 0.. -> +<calling code>..; anything else: none. -#}
    {%- set candidate -%}
        case when {{ ferry_regexp_like(d, "'^([+]|0)'") }} then
            {{ ferry_regexp_replace_all(ferry_regexp_replace_all(d, "'^00'", "'+'"), "'^0'", "'+" ~ calling_code(region) ~ "'") }}
        end
    {%- endset -%}
    case
        when {{ ferry_regexp_like(d, "'^[+]?0*$'") }} then null
        when {{ ferry_regexp_like(candidate, "'^[+][0-9]+$'") }} and {{ portable_phone_length_ok(candidate) }} then {{ candidate }}
    end
{%- endmacro %}

{% macro compact_phone_invalid_reason(column, region) -%}
    {%- set d = compact_phone_strip(column) -%}
    case
        when {{ d }} is null or {{ d }} = '' then 'missing'
        when {{ ferry_regexp_like(d, "'^[+]?0+$'") }} then 'placeholder'
        when not {{ ferry_regexp_like(d, "'^[+]?[0-9]+$'") }} then 'unparseable'
        when {{ compact_phone_e164(column, region) }} is null then 'wrong_length'
    end
{%- endmacro %}

{% macro postgres__phone_e164(column, region) -%}{{ compact_phone_e164(column, region) }}{%- endmacro %}
{% macro spark__phone_e164(column, region) -%}{{ compact_phone_e164(column, region) }}{%- endmacro %}
{% macro postgres__phone_invalid_reason(column, region) -%}{{ compact_phone_invalid_reason(column, region) }}{%- endmacro %}
{% macro spark__phone_invalid_reason(column, region) -%}{{ compact_phone_invalid_reason(column, region) }}{%- endmacro %}
