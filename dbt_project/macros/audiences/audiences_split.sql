{#- Deterministic split of an audience into named variants.

    bucket = first 32 bits of md5(profile_id || ':' || salt) mod 10000, so a profile
    lands in the same bucket on every run and every warehouse, independently per
    audience (the salt defaults to the audience name). Variants take consecutive
    bucket ranges in the order given; percentages must add up to 100.
    var audience_splits overrides a model's default:
      audience_splits: {aud_win_back: {salt: "wb-2026", variants: {holdout: 10, a: 45, b: 45}}}
    A variant named `holdout` is kept in the model for uplift reporting and never synced. -#}

{% macro hex8_to_int(hex_expr) -%}
    {{ return(adapter.dispatch('hex8_to_int', 'ferry')(hex_expr)) }}
{%- endmacro %}

{% macro default__hex8_to_int(hex_expr) -%}
    cast(('0x' || substr({{ hex_expr }}, 1, 8)) as bigint)
{%- endmacro %}

{% macro postgres__hex8_to_int(hex_expr) -%}
    cast(cast(('x' || lpad(substr({{ hex_expr }}, 1, 8), 16, '0')) as bit(64)) as bigint)
{%- endmacro %}

{% macro spark__hex8_to_int(hex_expr) -%}
    cast(conv(substr({{ hex_expr }}, 1, 8), 16, 10) as bigint)
{%- endmacro %}

{% macro audience_bucket(key_column, salt) -%}
    mod({{ hex8_to_int(dbt.hash(dbt.concat([key_column, "':'", "'" ~ (salt | replace("'", "''")) ~ "'"]))) }}, 10000)
{%- endmacro %}

{#- Resolve the split config for an audience (var override, else the model default). -#}
{% macro audience_split_config(audience_name, variants=none, salt=none) -%}
    {%- set override = var('audience_splits', {}).get(audience_name, {}) -%}
    {%- set chosen = override.get('variants', variants) or {'all': 100} -%}
    {%- set chosen_salt = override.get('salt', salt) or audience_name -%}
    {%- set total = namespace(pct=0) -%}
    {%- for name, pct in chosen.items() -%}
        {%- if not (name is string and name | length > 0) or (pct | float) < 0 -%}
            {{ exceptions.raise_compiler_error("audience_splits." ~ audience_name ~ ".variants: variant names must be non-empty and percentages >= 0") }}
        {%- endif -%}
        {%- set total.pct = total.pct + (pct | float) -%}
    {%- endfor -%}
    {%- if (total.pct - 100.0) | abs > 0.001 -%}
        {{ exceptions.raise_compiler_error("audience_splits." ~ audience_name ~ ".variants: percentages add up to " ~ total.pct ~ ", not 100") }}
    {%- endif -%}
    {{ return({'variants': chosen, 'salt': chosen_salt}) }}
{%- endmacro %}

{#- CASE expression naming the variant of each row. -#}
{% macro audience_variant(key_column, audience_name, variants=none, salt=none) -%}
    {%- set cfg = audience_split_config(audience_name, variants, salt) -%}
    {%- set upper = namespace(bound=0.0) -%}
    {%- set items = cfg['variants'].items() | list -%}
    {%- if items | length == 1 -%}
    '{{ items[0][0] }}'
    {%- else %}
    case
    {%- for name, pct in items %}
        {%- set upper.bound = upper.bound + (pct | float) * 100 %}
        {%- if loop.last %}
        else '{{ name }}'
        {%- else %}
        when {{ audience_bucket(key_column, cfg['salt']) }} < {{ upper.bound | round | int }} then '{{ name }}'
        {%- endif %}
    {%- endfor %}
    end
    {%- endif -%}
{%- endmacro %}
