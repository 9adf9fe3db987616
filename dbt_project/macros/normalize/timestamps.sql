{#- Timestamps are stored in staging as UTC without a zone (portable `timestamp`). -#}

{#- ISO-8601 text with an offset or 'Z' ('2026-03-01T10:00:00+01:00') -> UTC timestamp. -#}
{% macro iso_to_utc(column) -%}
    {{ return(adapter.dispatch('iso_to_utc', 'ferry')(column)) }}
{%- endmacro %}

{% macro duckdb__iso_to_utc(column) -%}
    cast(timezone('UTC', try_cast({{ column }} as timestamptz)) as timestamp)
{%- endmacro %}

{% macro postgres__iso_to_utc(column) -%}
    {{ pg_iso_to_utc(column) }}
{%- endmacro %}

{% macro default__iso_to_utc(column) -%}
    to_utc_timestamp(cast({{ column }} as timestamp), 'UTC')
{%- endmacro %}

{#- Epoch milliseconds (tracking SDKs) -> UTC timestamp. -#}
{% macro epoch_ms_to_utc(column) -%}
    {{ return(adapter.dispatch('epoch_ms_to_utc', 'ferry')(column)) }}
{%- endmacro %}

{% macro duckdb__epoch_ms_to_utc(column) -%}
    make_timestamp(cast({{ column }} as bigint) * 1000)
{%- endmacro %}

{% macro postgres__epoch_ms_to_utc(column) -%}
    (to_timestamp({{ column }} / 1000.0) at time zone 'UTC')
{%- endmacro %}

{% macro default__epoch_ms_to_utc(column) -%}
    timestamp_millis({{ column }})
{%- endmacro %}

{#- Text -> date, null when unparseable ('1990-02-30'). dbt-duckdb's dbt.safe_cast is a
    plain cast (it raises), so DuckDB gets try_cast; other adapters use dbt.safe_cast. -#}
{% macro safe_date(column) -%}
    {{ return(adapter.dispatch('safe_date', 'ferry')(column)) }}
{%- endmacro %}

{% macro duckdb__safe_date(column) -%}
    try_cast({{ column }} as date)
{%- endmacro %}

{% macro default__safe_date(column) -%}
    {{ dbt.safe_cast(column, api.Column.translate_type('date')) }}
{%- endmacro %}
