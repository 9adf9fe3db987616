{#- A source's staged rows, as the unions read them: its staging model when the
    registry names one (`model`), else the generic staging below, built from the
    registry entry alone (a source added with no SQL of its own). -#}
{% macro ferry_staged(name) -%}
    {%- set entry = ferry_sources()[name] -%}
    {%- if entry.get('model') -%}
    select * from {{ ref(entry['model']) }}
    {%- else -%}
    {{ ferry_generic_staging(name) }}
    {%- endif -%}
{%- endmacro %}

{#- Generic staging of a registry entry without a staging model, the same rules as
    the hand-written ones: text trimmed (empty -> null), e-mails and phones through
    email_fields / phone_fields (<col>, <col>_is_valid, <col>_invalid_reason),
    anonymous ids checked for placeholders, timestamps to UTC from the entry's
    `time_zone` (default UTC), dates parsed, numbers cast; loader columns renamed
    (derived when absent) and `is_latest_copy` on the record id. Inlined into each
    union (no model file), so an absent raw table is only announced once, by
    int_identifiers (`announce`). -#}
{% macro ferry_generic_staging(name, announce=false) -%}
    {%- set entry = ferry_sources()[name] -%}
    {%- set kinds = {} -%}
    {%- for ident in entry.get('identifiers') or [] -%}
        {%- do kinds.update({ident['column']: ident['type']}) -%}
    {%- endfor -%}
    {%- set relation = ferry_raw_relation_if_present(name) if execute else none -%}
    select
        *,
        {{ is_latest_copy(entry['record_id']) }} as is_latest_copy
    from (
        select
        {%- for column, family, optional in ferry_raw_contract(name) if not column.startswith('_loade') %}
            {%- set kind = kinds.get(column) %}
            {%- if kind == 'email' %}
            {{ email_fields(column, column) }},
            {%- elif kind == 'phone' %}
            {{ phone_fields(column, column) }},
            {%- elif kind == 'national_id' %}
            {{ national_id_fields(column, column) }},
            {%- elif kind == 'anonymous_id' %}
            {{ clean_text(column) }} as {{ column }},
            {{ clean_text(column) }} is not null and lower({{ clean_text(column) }}) not in ('null', 'undefined', 'anonymous', 'none', '0') as {{ column }}_is_valid,
            case
                when {{ clean_text(column) }} is null then 'missing'
                when lower({{ clean_text(column) }}) in ('null', 'undefined', 'anonymous', 'none', '0') then 'placeholder'
            end as {{ column }}_invalid_reason,
            {%- elif family == 'text' or kind == 'customer_id' %}
            {{ clean_text('cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')') }} as {{ column }},
            {%- elif family == 'timestamp' %}
            {{ ferry_local_to_utc(column, entry.get('time_zone', 'UTC')) }} as {{ column }},
            {%- elif family == 'date' %}
            {{ safe_date(column) }} as {{ column }},
            {%- else %}
            cast({{ column }} as {{ ferry_contract_sql_type(family) }}) as {{ column }},
            {%- endif %}
        {%- endfor %}
            cast(_loader_id as {{ dbt.type_string() }}) as loader_id,
            cast(_loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
        from ({{ ferry_raw_select(name, relation, announce=announce) if execute else 'select 1' }}) as raw_rows
    ) as renamed
{%- endmacro %}

{#- A zone-less timestamp (or ISO text) recorded in `time_zone` -> UTC timestamp. -#}
{% macro ferry_local_to_utc(column, time_zone) -%}
    {{ return(adapter.dispatch('ferry_local_to_utc', 'ferry')(column, time_zone)) }}
{%- endmacro %}

{% macro duckdb__ferry_local_to_utc(column, time_zone) -%}
    {%- if time_zone == 'UTC' -%}
    try_cast({{ column }} as timestamp)
    {%- else -%}
    cast(timezone('UTC', timezone('{{ time_zone }}', try_cast({{ column }} as timestamp))) as timestamp)
    {%- endif -%}
{%- endmacro %}

{% macro postgres__ferry_local_to_utc(column, time_zone) -%}
    ((cast({{ column }} as timestamp) at time zone '{{ time_zone }}') at time zone 'UTC')
{%- endmacro %}

{% macro default__ferry_local_to_utc(column, time_zone) -%}
    to_utc_timestamp(cast({{ column }} as timestamp), '{{ time_zone }}')
{%- endmacro %}
