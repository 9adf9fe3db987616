{#- The reference instant for scores and audiences: var ferry_as_of when set (tests
    and backfills pin it), otherwise now. Always a timestamp without time zone so it
    compares with the UTC timestamps of the marts on every adapter. -#}
{% macro audiences_as_of() -%}
    {%- set pinned = var('ferry_as_of', none) -%}
    {%- if pinned -%}
        cast('{{ pinned }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#- Age in fractional days between a past timestamp and the reference instant. Hours
    keep the decay smooth without relying on dialect-specific epoch functions. -#}
{% macro audiences_age_days(ts) -%}
    ({{ dbt.datediff(ts, audiences_as_of(), 'hour') }} / 24.0)
{%- endmacro %}

{#- Exponential decay: an interaction `half_life` days old counts half. -#}
{% macro audiences_decay(age_days, half_life_days) -%}
    power(0.5, ({{ age_days }}) / {{ half_life_days }})
{%- endmacro %}

{#- The reference instant shifted by a number of days (negative = in the past). -#}
{% macro audiences_days_ago(days) -%}
    {{ dbt.dateadd('day', -1 * (days | int), audiences_as_of()) }}
{%- endmacro %}

{#- round() on a float is not defined on PostgreSQL: round as numeric everywhere. The
    outer cast pins the scale: PostgreSQL's round() returns an unconstrained numeric
    whose text keeps trailing zeros (6.7500), DuckDB's a decimal(28, digits). -#}
{% macro audiences_round(expr, digits) -%}
    cast(round(cast({{ expr }} as {{ dbt.type_numeric() }}), {{ digits }}) as decimal(28, {{ digits }}))
{%- endmacro %}
