{#- Target fit (ICP): one boolean SQL expression per rule in var icp_rules.
    Rules are data, so they are validated here and rendered with quoted literals;
    an unknown op fails the build naming the rule. -#}
{% macro icp_rule_sql(rule, index) -%}
    {%- set ops = ['eq', 'ne', 'in', 'not_in', 'gte', 'lte', 'contains', 'not_null'] -%}
    {%- set column = rule.get('column', '') -%}
    {%- set op = rule.get('op', '') -%}
    {%- if not column or not (column | replace('_', '') | lower).isalnum() -%}
        {{ exceptions.raise_compiler_error("dbt_project.yml: vars.icp_rules[" ~ index ~ "].column: missing or not a plain column name") }}
    {%- endif -%}
    {%- if op not in ops -%}
        {{ exceptions.raise_compiler_error("dbt_project.yml: vars.icp_rules[" ~ index ~ "].op: '" ~ op ~ "' is not one of " ~ ops | join(', ')) }}
    {%- endif -%}
    {%- set value = rule.get('value') -%}
    {%- if op == 'not_null' -%}({{ column }} is not null)
    {%- elif op == 'eq' -%}({{ column }} = {{ icp_literal(value) }})
    {%- elif op == 'ne' -%}({{ column }} <> {{ icp_literal(value) }})
    {%- elif op == 'gte' -%}({{ column }} >= {{ icp_literal(value) }})
    {%- elif op == 'lte' -%}({{ column }} <= {{ icp_literal(value) }})
    {%- elif op == 'contains' -%}(lower({{ column }}) like '%{{ value | string | lower | replace("'", "''") }}%')
    {%- else -%}({{ column }} {{ 'not ' if op == 'not_in' }}in ({%- for v in value -%}{{ icp_literal(v) }}{{ ", " if not loop.last }}{%- endfor -%}))
    {%- endif -%}
{%- endmacro %}

{#- Number of ICP rules a row satisfies (nulls count as not satisfied). -#}
{% macro icp_matched_count() -%}
    {%- set rules = var('icp_rules', []) -%}
    {%- if rules | length == 0 -%}0{%- else -%}
    ({%- for rule in rules -%}
        case when {{ icp_rule_sql(rule, loop.index0) }} then 1 else 0 end{{ " + " if not loop.last }}
    {%- endfor -%})
    {%- endif -%}
{%- endmacro %}

{% macro icp_literal(v) -%}
    {%- if v is number -%}{{ v }}{%- else -%}'{{ v | string | replace("'", "''") }}'{%- endif -%}
{%- endmacro %}
