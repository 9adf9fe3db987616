{#- Use the configured schema name as is (staging, marts, audiences...), not
    "<target schema>_<custom>": the mart names are a contract users query. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
