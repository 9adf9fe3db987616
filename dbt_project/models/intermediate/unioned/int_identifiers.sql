{#- Every identifier seen on every usable source record, one row per
    (source, source_record_id, identifier_type, identifier_value).
    Customer ids are namespaced '<system>:<id>'. Invalid values are kept with
    is_valid = false and a reason (never used to link); missing values yield no row.
    Records without a key, or a duplicated key's older copies, are left to the
    quarantine model. -#}

{%- set sources = [
    {'model': 'stg_crm__contacts', 'source': 'crm_contacts', 'key': 'contact_id', 'observed': 'updated_at',
     'customer_id': ('crm', 'contact_id'), 'email': true, 'phone': true},
    {'model': 'stg_shop__customers', 'source': 'shop_customers', 'key': 'customer_id', 'observed': 'updated_at',
     'customer_id': ('shop', 'customer_id'), 'email': true, 'phone': true},
    {'model': 'stg_shop__orders', 'source': 'shop_orders', 'key': 'order_id', 'observed': 'ordered_at',
     'customer_id': ('shop', 'customer_id'), 'email': true},
    {'model': 'int_order_lines_joined', 'source': 'shop_order_lines', 'key': 'order_line_id', 'observed': 'ordered_at',
     'customer_id': ('shop', 'customer_id'), 'email': true},
    {'model': 'stg_shop__abandoned_carts', 'source': 'shop_abandoned_carts', 'key': 'cart_id', 'observed': 'created_at',
     'customer_id': ('shop', 'customer_id'), 'email': true},
    {'model': 'stg_web__events', 'source': 'web_events', 'key': 'event_id', 'observed': 'occurred_at',
     'customer_id': ('shop', 'user_id'), 'email': true, 'anonymous_id': true},
    {'model': 'stg_support__tickets', 'source': 'support_tickets', 'key': 'ticket_id', 'observed': 'created_at',
     'customer_id': ('support', 'requester_id'), 'email': true, 'phone': true},
    {'model': 'stg_support__surveys', 'source': 'support_surveys', 'key': 'survey_response_id', 'observed': 'submitted_at',
     'customer_id': ('support', 'requester_id'), 'email': true},
    {'model': 'stg_forms__submissions', 'source': 'forms_submissions', 'key': 'submission_id', 'observed': 'submitted_at',
     'email': true, 'phone': true},
    {'model': 'stg_product__users', 'source': 'product_users', 'key': 'user_id', 'observed': 'signed_up_at',
     'customer_id': ('product', 'user_id'), 'email': true},
    {'model': 'stg_product__events', 'source': 'product_events', 'key': 'event_id', 'observed': 'occurred_at',
     'customer_id': ('product', 'user_id')},
    {'model': 'stg_consent__changes', 'source': 'consent_changes', 'key': 'change_id', 'observed': 'changed_at',
     'email': true, 'phone': true},
    {'model': 'stg_consent__erasure_requests', 'source': 'consent_erasure_requests', 'key': 'request_id', 'observed': 'requested_at',
     'email': true, 'phone': true},
] -%}

with

{% for s in sources %}
{{ s.source }} as (

    select * from {{ ref(s.model) }}

),

{{ s.source }}_usable as (

    select *
    from {{ s.source }}
    where is_latest_copy

),

{{ s.source }}_identifiers as (

    {%- set parts = [] %}
    {%- if s.customer_id %}{% do parts.append('customer_id') %}{% endif %}
    {%- if s.email %}{% do parts.append('email') %}{% endif %}
    {%- if s.phone %}{% do parts.append('phone') %}{% endif %}
    {%- if s.anonymous_id %}{% do parts.append('anonymous_id') %}{% endif %}
    {%- for p in parts %}
    select
        '{{ s.source }}' as source,
        cast({{ s.key }} as {{ dbt.type_string() }}) as source_record_id,
        '{{ p }}' as identifier_type,
        {%- if p == 'customer_id' %}
        {{ dbt.concat(["'" ~ s.customer_id[0] ~ ":'", s.customer_id[1]]) }} as identifier_value,
        true as is_valid,
        cast(null as {{ dbt.type_string() }}) as invalid_reason,
        {%- elif p == 'anonymous_id' %}
        anonymous_id as identifier_value,
        anonymous_id_is_valid as is_valid,
        anonymous_id_invalid_reason as invalid_reason,
        {%- else %}
        {{ p }} as identifier_value,
        {{ p }}_is_valid as is_valid,
        {{ p }}_invalid_reason as invalid_reason,
        {%- endif %}
        {{ s.observed }} as observed_at
    from {{ s.source }}_usable
    where {% if p == 'customer_id' %}{{ s.customer_id[1] }}{% else %}{{ p }}{% endif %} is not null
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

{% endfor %}

unioned as (

    {%- for s in sources %}
    select * from {{ s.source }}_identifiers
    union all
    {%- endfor %}
    {#- recipients of engagement events, so engagement maps to profiles -#}
    {%- for engagement in ['int_sendgrid_engagement_identifiers', 'int_twilio_engagement_identifiers'] %}
    select source, source_record_id, identifier_type, identifier_value, is_valid, invalid_reason, observed_at
    from {{ ref(engagement) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        {{ dbt.hash(dbt.concat(['source', "'|'", 'source_record_id', "'|'", 'identifier_type', "'|'", 'identifier_value'])) }} as identifier_row_id,
        source,
        {{ dbt.split_part('source', "'_'", 1) }} as source_system,
        source_record_id,
        identifier_type,
        identifier_value,
        is_valid,
        invalid_reason,
        observed_at
    from unioned

)

select * from final
