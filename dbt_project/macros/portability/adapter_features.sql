{#- What an adapter can do, asked by models' config() instead of `target.type` checks. -#}

{#- How a staging model that validates emails and phones materializes. On DuckDB the
    validation runs in Python UDFs (plugins/ferry_normalize.py) that only dbt's own
    connections register, so a view would break every other reader of the warehouse
    and re-run the UDFs per reader: a table. Elsewhere the rules are plain SQL
    (macros/normalize, default__ spellings): a view, as the project's staging default. -#}
{% macro ferry_validating_staging_materialization() -%}
    {{ return(adapter.dispatch('ferry_validating_staging_materialization', 'ferry')()) }}
{%- endmacro %}

{% macro default__ferry_validating_staging_materialization() -%}
    {{ return('view') }}
{%- endmacro %}

{% macro duckdb__ferry_validating_staging_materialization() -%}
    {{ return('table') }}
{%- endmacro %}

{#- True where fuzzy matching (Splink, the dbt-duckdb Python model
    intermediate/fuzzy/int_fuzzy_links.py) runs inside the warehouse build. Elsewhere
    the no-pairs stand-in (fuzzy/portable/int_fuzzy_links.sql) takes its name. -#}
{% macro ferry_fuzzy_matching_in_warehouse() -%}
    {{ return(adapter.dispatch('ferry_fuzzy_matching_in_warehouse', 'ferry')()) }}
{%- endmacro %}

{% macro default__ferry_fuzzy_matching_in_warehouse() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro duckdb__ferry_fuzzy_matching_in_warehouse() -%}
    {{ return(true) }}
{%- endmacro %}
