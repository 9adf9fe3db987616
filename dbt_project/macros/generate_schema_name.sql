{#- Target-aware schemas (dbt's documented pattern): on a production target a custom
    schema keeps its plain name (staging, marts, audiences...: the names users query);
    on any other target it is prefixed with the target's schema (`dev_marts`), so a
    developer's build on a shared PostgreSQL or Snowflake never overwrites production.

    Production targets: FERRY_PROD_TARGETS (comma-separated), default `prod`,
    `postgres_prod`, and the embedded single-user targets `duckdb` (one local file)
    and `spark` (a session with its own metastore), which nobody shares. The sync
    engine and Dagster read the resulting names from the manifest. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set production = env_var('FERRY_PROD_TARGETS', 'prod,postgres_prod,duckdb,spark').split(',') | map('trim') | list -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- elif target.name in production -%}
        {{ custom_schema_name | trim }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
