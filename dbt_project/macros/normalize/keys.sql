{#- True on the one row per natural key that downstream models use: the latest
    loaded copy (loaded_at, then loader_id, descending). False for rows without a
    key and for older copies of a key loaded twice; the quarantine lists those. -#}
{% macro is_latest_copy(key) -%}
    case
        when {{ key }} is null then false
        else row_number() over (partition by {{ key }} order by loaded_at desc, loader_id desc) = 1
    end
{%- endmacro %}
