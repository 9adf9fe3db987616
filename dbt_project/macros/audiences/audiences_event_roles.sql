{#- The event_type values that play a role (var ferry_event_roles), as a SQL list
    literal for `event_type in (...)`. Roles decouple scores from source naming. -#}
{% macro event_types_for(role, default=none) -%}
    {%- set roles = dict(var('ferry_event_roles', {})) -%}
    {%- if role not in roles and default is not none -%}
        {%- do roles.update({role: default}) -%}
    {%- endif -%}
    {%- if role not in roles -%}
        {{ exceptions.raise_compiler_error("dbt_project.yml: vars.ferry_event_roles." ~ role ~ " is not defined") }}
    {%- endif -%}
    ({%- for t in roles[role] -%}'{{ t | replace("'", "''") }}'{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}

{#- CASE expression mapping a column's values to numeric weights from a var dict. -#}
{% macro weight_case(column, var_name) -%}
    {%- set weights = var(var_name, {}) -%}
    case {{ column }}
    {%- for key, weight in weights.items() %}
        when '{{ key | replace("'", "''") }}' then {{ weight | float }}
    {%- endfor %}
        else 0.0
    end
{%- endmacro %}
