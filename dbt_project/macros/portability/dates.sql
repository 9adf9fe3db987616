{#- Guards that make text -> date/timestamp casts total on PostgreSQL.

    Why: DuckDB and Spark (ANSI off, as dbt-spark sets it) turn an unparseable value
    into null with try_cast / cast; PostgreSQL before 16 has neither try_cast nor
    pg_input_is_valid, and one bad row ('not a date', '1990-02-30') fails the whole
    model. These guards are a regex plus integer arithmetic inside nested CASEs
    (PostgreSQL evaluates CASE branches in order), so they never raise. -#}

{#- true when `column` starts with an existing calendar date YYYY-MM-DD. -#}
{% macro pg_iso_date_exists(column) -%}
    {%- set y = 'cast(substr(' ~ column ~ ', 1, 4) as integer)' -%}
    {%- set m = 'cast(substr(' ~ column ~ ', 6, 2) as integer)' -%}
    {%- set d = 'cast(substr(' ~ column ~ ', 9, 2) as integer)' -%}
    case
        when {{ column }} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' then
            case
                when {{ m }} not between 1 and 12 then false
                else {{ d }} between 1 and (
                    case
                        when {{ m }} in (4, 6, 9, 11) then 30
                        when {{ m }} = 2 then
                            case when ({{ y }} % 4 = 0 and {{ y }} % 100 <> 0) or {{ y }} % 400 = 0 then 29 else 28 end
                        else 31
                    end
                )
            end
        else false
    end
{%- endmacro %}

{#- true when `column` is ISO-8601: a date, optionally a time (T or space), optionally
    fractional seconds and an offset ('Z', +01, +0100, +01:00), every part in range. -#}
{% macro pg_iso_timestamp_is_valid(column) -%}
    case
        when {{ column }} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$' then
            case
                when not ({{ pg_iso_date_exists(column) }}) then false
                when length({{ column }}) < 16 then true
                when cast(substr({{ column }}, 12, 2) as integer) > 23 then false
                when cast(substr({{ column }}, 15, 2) as integer) > 59 then false
                when substr({{ column }}, 17, 1) = ':' and cast(substr({{ column }}, 18, 2) as integer) > 59 then false
                else true
            end
        else false
    end
{%- endmacro %}

{#- safe_date (macros/normalize/timestamps.sql) per adapter: null when unparseable. -#}
{% macro postgres__safe_date(column) -%}
    case when {{ pg_iso_date_exists(column) }} and length({{ column }}) = 10 then cast({{ column }} as date) end
{%- endmacro %}

{#- Spark: try_cast is total whatever spark.sql.ansi.enabled says. -#}
{% macro spark__safe_date(column) -%}
    try_cast({{ column }} as date)
{%- endmacro %}

{#- iso_to_utc's PostgreSQL body: the cast only runs on values the guard accepts. -#}
{% macro pg_iso_to_utc(column) -%}
    case
        when {{ pg_iso_timestamp_is_valid(column) }} then (cast({{ column }} as timestamptz) at time zone 'UTC')
    end
{%- endmacro %}

{#- Spark: an ISO string with an offset casts to an instant; to_utc_timestamp from
    the session zone gives its UTC wall-clock time whatever spark.sql.session.timeZone is. -#}
{% macro spark__iso_to_utc(column) -%}
    to_utc_timestamp(try_cast({{ column }} as timestamp), current_timezone())
{%- endmacro %}

{#- Spark: epoch milliseconds as a UTC wall-clock timestamp whatever the session zone. -#}
{% macro spark__epoch_ms_to_utc(column) -%}
    to_utc_timestamp(timestamp_millis(cast({{ column }} as bigint)), current_timezone())
{%- endmacro %}
