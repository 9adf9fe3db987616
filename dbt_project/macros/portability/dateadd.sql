{#- dbt.dateadd on Spark: dbt-spark's own version with the interval in parentheses.

    Why: dbt-spark multiplies the interval unparenthesised (`cast({{ interval }} * 12 as
    int)` for years), so an expression interval such as `extract(year from now) -
    extract(year from birth_date)` became `a - b * 12`: birthdays landed in the year 170.
    Root-project macros come first when dbt dispatches its own, and `dbt.spark__dateadd`
    still names dbt-spark's. -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    {{ return(dbt.spark__dateadd(datepart, '(' ~ interval ~ ')', from_date_or_timestamp)) }}
{%- endmacro %}
