{#- Identity-resolution settings. Every setting is a dbt var declared (with its
    default) in dbt_project.yml; the same defaults live here so the models still
    compile in a project that does not declare them (tests, forks). -#}

{% macro identity_setting(name) -%}
    {%- set defaults = {
        'identity_blocked_values': ['null', 'none', 'nan', 'n/a', 'na', 'unknown', 'anonymous', 'undefined', '-1', 'test@test.com', 'test@example.com'],
        'identity_blocked_patterns': {'any': ['^[0-]*$'], 'email': ['^(info|contact|noreply|no-reply|admin|sales|support|hello)@']},
        'identity_max_customer_ids': {'customer_id': 1, 'national_id': 1, 'email': 1, 'phone': 1, 'anonymous_id': 1},
        'identity_max_record_ids': 3,
        'identity_type_priority': ['customer_id', 'national_id', 'email', 'phone', 'anonymous_id'],
        'identity_label_rounds': 10,
        'identity_first_name_checked_types': ['phone'],
        'profile_source_priority': [],
    } -%}
    {%- if name not in defaults -%}
        {{ exceptions.raise_compiler_error("unknown identity setting '" ~ name ~ "' (known: " ~ (defaults.keys() | list | join(', ')) ~ ")") }}
    {%- endif -%}
    {{ return(var(name, defaults[name])) }}
{%- endmacro %}


{#- SQL literal for a Python string (single quotes doubled). -#}
{% macro identity_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}


{#- The values as a comma-separated list of SQL literals, for `in (...)`; `null`
    for an empty list, so `x in (null)` holds for no row instead of failing to parse. -#}
{% macro identity_literal_list(values) -%}
    {%- for value in values %}{{ identity_literal(value) }}{% if not loop.last %}, {% endif %}{% else %}null{% endfor -%}
{%- endmacro %}


{#- Rank of an identifier type in the link priority (1 = strongest); unknown types rank last. -#}
{% macro identity_type_rank(type_column) -%}
    {%- set priority = identity_setting('identity_type_priority') -%}
    case {{ type_column }}
    {%- for identifier_type in priority %}
        when {{ identity_literal(identifier_type) }} then {{ loop.index }}
    {%- endfor %}
        else {{ priority | length + 1 }}
    end
{%- endmacro %}


{#- Maximum distinct customer ids (of one system) an identifier of this type may carry. -#}
{% macro identity_max_customer_ids(type_column) -%}
    {%- set limits = identity_setting('identity_max_customer_ids') -%}
    case {{ type_column }}
    {%- for identifier_type, limit in limits.items() %}
        when {{ identity_literal(identifier_type) }} then {{ limit | int }}
    {%- endfor %}
        else 1
    end
{%- endmacro %}


{#- The record-id limit (identity_max_record_ids) for an identifier of this type:
    one number for every type, or a mapping by type with a `default`. A national id
    is issued to one person, so it is no household's: the records sharing it are
    one person entered again and again (an import run three times and a lead
    converted), held to a limit of their own; a placeholder id shared by many rows
    still reaches it (or a blocked pattern). -#}
{% macro identity_max_record_ids(type_column) -%}
    {%- set limits = identity_setting('identity_max_record_ids') -%}
    {%- if limits is mapping -%}
    case {{ type_column }}
    {%- for identifier_type, limit in limits.items() if identifier_type != 'default' %}
        when {{ identity_literal(identifier_type) }} then {{ limit | int }}
    {%- endfor %}
        else {{ limits.get('default', 3) | int }}
    end
    {%- else -%}
    {{ limits | int }}
    {%- endif -%}
{%- endmacro %}


{#- How many distinct customer ids of one system a shared identifier may carry
    before it is a hub: identity_max_customer_ids for its type, or, for a
    namespace of kind record_id (CRM contacts: rows that may duplicate each
    other), identity_max_record_ids, whatever the type: an import run twice or a
    contact entered again shares its e-mail and phone with the first row. -#}
{% macro identity_customer_id_limit(type_column, system_column) -%}
    {%- set record_namespaces = ferry_record_id_namespaces() -%}
    {%- if record_namespaces -%}
    case
        when {{ system_column }} in ({{ identity_literal_list(record_namespaces) }}) then {{ identity_max_record_ids(type_column) }}
        else {{ identity_max_customer_ids(type_column) }}
    end
    {%- else -%}
    {{ identity_max_customer_ids(type_column) }}
    {%- endif -%}
{%- endmacro %}


{#- Rank of a source in the golden-record source priority (1 = most trusted). A
    source matches a listed name exactly or by its system prefix (crm_contacts -> crm). -#}
{% macro profile_source_rank(source_column) -%}
    {%- set priority = identity_setting('profile_source_priority') -%}
    {%- if priority | length == 0 -%}
    1
    {%- else -%}
    case
    {%- for source_name in priority %}
        when {{ source_column }} = {{ identity_literal(source_name) }}
            or {{ dbt.split_part(source_column, "'_'", 1) }} = {{ identity_literal(source_name) }} then {{ loop.index }}
    {%- endfor %}
        else {{ priority | length + 1 }}
    end
    {%- endif -%}
{%- endmacro %}


{#- True when the expression matches one of the blocked patterns listed under
    this key of identity_blocked_patterns ("any" lists those for every type). -#}
{% macro identity_matches_blocked_pattern(value_expression, pattern_key) -%}
    {%- set patterns = identity_setting('identity_blocked_patterns') -%}
    {%- set applicable = patterns.get(pattern_key, []) or [] -%}
    {%- if applicable | length == 0 -%}
    false
    {%- else -%}
    ({%- for pattern in applicable -%}
        {{ ferry_regexp_like(value_expression, identity_literal(pattern)) }}{% if not loop.last %} or {% endif %}
    {%- endfor -%})
    {%- endif -%}
{%- endmacro %}
