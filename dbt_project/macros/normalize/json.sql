{#- A JSON object (as text) from a dict of key -> SQL expression; nulls kept as JSON null. -#}
{% macro json_object_text(pairs) -%}
    {{ return(adapter.dispatch('json_object_text', 'ferry')(pairs)) }}
{%- endmacro %}

{% macro duckdb__json_object_text(pairs) -%}
    cast(json_object({% for k, v in pairs.items() %}'{{ k }}', {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}) as varchar)
{%- endmacro %}

{% macro default__json_object_text(pairs) -%}
    cast(json_build_object({% for k, v in pairs.items() %}'{{ k }}', {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}) as text)
{%- endmacro %}

{% macro spark__json_object_text(pairs) -%}
    to_json(named_struct({% for k, v in pairs.items() %}'{{ k }}', {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}
