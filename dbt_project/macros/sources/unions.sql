{#- The four unions of sources (int_identifiers, int_events, int_person_records,
    int_quarantined_records), generated from the source registry: adding a source
    is adding its registry entry, never a CTE here. Each macro emits the CTEs of its
    model up to `unioned`; the model adds `final`. -#}

{#- Identifiers of every source with `identifiers`, one row per (source record,
    identifier). customer_id values are namespaced '<namespace>:<id>'. Sources with
    `identifiers_model` (engagement landed by Ferry) hand ready rows. -#}
{% macro ferry_identifiers_ctes() -%}
    {%- set sources = ferry_sources() -%}
    {%- set unions = [] -%}
{% for name in ferry_record_sources() if sources[name].get('identifiers') %}
    {%- set s = sources[name] %}
    {%- do unions.append('select * from ' ~ name ~ '_identifiers') %}
{{ name }} as (

    {{ ferry_staged_announced(name) }}

),

{{ name }}_usable as (

    select *
    from {{ name }}
    where is_latest_copy

),

{{ name }}_identifiers as (
    {%- for ident in s['identifiers'] %}
    select
        '{{ name }}' as source,
        cast({{ s['record_id'] }} as {{ dbt.type_string() }}) as source_record_id,
        '{{ ident['type'] }}' as identifier_type,
        {%- if ident['type'] == 'customer_id' %}
        {{ dbt.concat(["'" ~ ident.get('namespace', ferry_source_system(name)) ~ ":'", ident['column']]) }} as identifier_value,
        true as is_valid,
        cast(null as {{ dbt.type_string() }}) as invalid_reason,
        {%- else %}
        {{ ident['column'] }} as identifier_value,
        {{ ident['column'] }}_is_valid as is_valid,
        {{ ident['column'] }}_invalid_reason as invalid_reason,
        {%- endif %}
        {{ s['record_time'] }} as observed_at
    from {{ name }}_usable
    where {{ ident['column'] }} is not null
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),
{% endfor %}
    {%- for name, s in sources.items() if s.get('identifiers_model') %}
    {%- do unions.append('select source, source_record_id, identifier_type, identifier_value, is_valid, invalid_reason, observed_at\n    from ' ~ ref(s['identifiers_model'])) %}
    {%- endfor %}
unioned as (

    {{ unions | join('\n    union all\n    ') }}

)
{%- endmacro %}

{#- A source's staged rows; int_identifiers (which every source with identifiers
    reaches) is the one model that announces an absent raw table of a source without a
    staging model (a staging model announces its own). -#}
{% macro ferry_staged_announced(name) -%}
    {%- set entry = ferry_sources()[name] -%}
    {%- if entry.get('model') -%}
    select * from {{ ref(entry['model']) }}
    {%- else -%}
    {{ ferry_generic_staging(name, announce=true) }}
    {%- endif -%}
{%- endmacro %}

{#- One timeline row per interaction of every source with `events`:
    type (SQL; default the single value of `types`), channel (SQL; default the system
    name), occurred_at (default record_time), category, amount, attributes (columns
    into attributes_json; consent columns join as consent_<channel>), where. -#}
{% macro ferry_events_ctes() -%}
    {%- set sources = ferry_sources() -%}
    {%- set unions = [] -%}
{% for name in ferry_record_sources() if sources[name].get('events') %}
    {%- set s = sources[name] %}
    {%- set ev = s['events'] %}
    {%- set attributes = {} %}
    {%- for column in ev.get('attributes') or [] %}{% do attributes.update({column: column}) %}{% endfor %}
    {%- for channel, column in (s.get('consent') or {}).items() if ('consent_' ~ channel) not in attributes %}
        {%- do attributes.update({'consent_' ~ channel: column}) %}
    {%- endfor %}
    {%- do unions.append('select * from ' ~ name ~ '_events') %}
{{ name }}_events as (

    select
        '{{ name }}' as source,
        cast({{ s['record_id'] }} as {{ dbt.type_string() }}) as source_record_id,
        {{ ev.get('type') or ("'" ~ ev['types'][0] ~ "'") }} as event_type,
        {{ ev.get('channel') or ("'" ~ ferry_source_system(name) ~ "'") }} as channel,
        {{ ev.get('occurred_at') or s['record_time'] }} as occurred_at,
        {{ ev.get('category') or ('cast(null as ' ~ dbt.type_string() ~ ')') }} as category,
        {{ ev.get('amount') or ('cast(null as ' ~ dbt.type_numeric() ~ ')') }} as amount,
        {{ json_object_text(attributes) }} as attributes_json
    from ({{ ferry_staged(name) }}) as staged
    where is_latest_copy
    {%- if ev.get('where') %}
        and {{ ev['where'] }}
    {%- endif %}

),
{% endfor %}
    {%- for name, s in sources.items() if s.get('events_model') %}
    {%- do unions.append('-- engagement pulled back from the tools (deliveries, opens, clicks, bounces, STOP...)\n    select source, source_record_id, event_type, channel, occurred_at, category, amount, attributes_json\n    from ' ~ ref(s['events_model'])) %}
    {%- endfor %}
unioned as (

    {{ unions | join('\n    union all\n    ') }}

)
{%- endmacro %}

{#- One row per usable record of every source with `person` attributes: the columns
    of var ferry_person_attributes, null where the source has none. `person` lists
    attribute names (read from the staged column of that name) or {attribute: SQL}.
    An attribute's `<attribute>_is_valid` companion (email, phone) follows it. -#}
{% macro ferry_person_records_ctes() -%}
    {%- set sources = ferry_sources() -%}
    {%- set attributes = var('ferry_person_attributes') -%}
    {%- set unions = [] -%}
{% for name in ferry_record_sources() if sources[name].get('person') %}
    {%- set s = sources[name] %}
    {%- set mapped = {} %}
    {%- for item in s['person'] %}
        {%- if item is mapping %}{% do mapped.update(item) %}{% else %}{% do mapped.update({item: item}) %}{% endif %}
    {%- endfor %}
    {%- for attribute, expression in mapped.copy().items() %}
        {%- if (attribute ~ '_is_valid') in attributes and (attribute ~ '_is_valid') not in mapped and expression is string and expression.isidentifier() %}
            {%- do mapped.update({attribute ~ '_is_valid': expression ~ '_is_valid'}) %}
        {%- endif %}
    {%- endfor %}
    {%- for attribute in mapped if attribute not in attributes %}
        {%- do exceptions.raise_compiler_error("ferry_sources." ~ name ~ ".person: unknown attribute '" ~ attribute ~ "' (var ferry_person_attributes lists them: " ~ (attributes.keys() | join(', ')) ~ ")") %}
    {%- endfor %}
    {%- do unions.append('select * from ' ~ name ~ '_records') %}
{{ name }}_records as (

    select
        '{{ name }}' as source,
        cast({{ s['record_id'] }} as {{ dbt.type_string() }}) as source_record_id,
        {%- for attribute, family in attributes.items() %}
        {%- if attribute in mapped and s.get('model') %}
        {{ mapped[attribute] }} as {{ attribute }},
        {%- elif attribute in mapped %}
        cast({{ mapped[attribute] }} as {{ ferry_contract_sql_type(family) }}) as {{ attribute }},
        {%- else %}
        cast(null as {{ ferry_contract_sql_type(family) }}) as {{ attribute }},
        {%- endif %}
        {%- endfor %}
        loaded_at
    from ({{ ferry_staged(name) }}) as staged
    where is_latest_copy

),
{% endfor %}
unioned as (

    {{ unions | join('\n    union all\n    ') }}

)
{%- endmacro %}

{#- Every row of every record source, for the quarantine: key, loader id, record
    time, load time, latest-copy flag. -#}
{% macro ferry_all_source_rows() -%}
    {%- set sources = ferry_sources() -%}
    {%- for name in ferry_record_sources() %}
    select
        '{{ name }}' as source,
        cast({{ sources[name]['record_id'] }} as {{ dbt.type_string() }}) as source_record_id,
        loader_id,
        {{ sources[name]['record_time'] }} as record_at,
        loaded_at,
        is_latest_copy
    from ({{ ferry_staged(name) }}) as staged
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}
{%- endmacro %}

{#- Source-specific quarantine rules (registry `quarantine: [{reason, when, detail}]`,
    e.g. an order line whose order is missing), as selects of the quarantine's shape;
    none: a select of no rows. -#}
{% macro ferry_source_quarantine_rules() -%}
    {%- set sources = ferry_sources() -%}
    {%- set parts = [] -%}
    {%- for name in ferry_record_sources() %}
        {%- for rule in sources[name].get('quarantine') or [] %}
            {%- do parts.append("select\n        '" ~ name ~ "' as source,\n        cast(" ~ sources[name]['record_id'] ~ " as " ~ dbt.type_string() ~ ") as source_record_id,\n        loader_id,\n        '" ~ rule['reason'] ~ "' as reason,\n        '" ~ rule['detail'] | replace("'", "''") ~ "' as detail,\n        loaded_at\n    from (" ~ ferry_staged(name) ~ ") as staged\n    where is_latest_copy\n        and " ~ rule['when']) %}
        {%- endfor %}
    {%- endfor %}
    {%- if parts -%}
    {{ parts | join('\n\n    union all\n\n    ') }}
    {%- else -%}
    select
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as source_record_id,
        cast(null as {{ dbt.type_string() }}) as loader_id,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_string() }}) as detail,
        cast(null as {{ dbt.type_timestamp() }}) as loaded_at
    where 1 = 0
    {%- endif -%}
{%- endmacro %}
