{#- One row per usable source record that describes a person (name, contact
    details, address, company...): the input of survivorship (golden record)
    and of fuzzy matching. Emails/phones are normalised; invalid ones are kept
    with their flags so the golden record can prefer valid values. -#}

{%- set columns = [
    'first_name', 'last_name', 'email', 'email_is_valid', 'phone', 'phone_is_valid',
    'birth_date', 'street', 'city', 'postcode', 'country', 'company', 'job_title',
    'owner_name', 'owner_email', 'preferred_store', 'loyalty_status', 'loyalty_points',
    'lead_source', 'lifecycle_stage', 'competitor_name', 'competitor_contract_end_date',
    'plan', 'trial_ends_at', 'accepts_marketing',
    'utm_source', 'utm_medium', 'utm_campaign', 'source_created_at', 'source_updated_at',
] -%}

{%- set types = {
    'email_is_valid': dbt.type_boolean(), 'phone_is_valid': dbt.type_boolean(), 'accepts_marketing': dbt.type_boolean(),
    'birth_date': 'date', 'competitor_contract_end_date': 'date',
    'loyalty_points': dbt.type_bigint(), 'trial_ends_at': dbt.type_timestamp(),
    'source_created_at': dbt.type_timestamp(), 'source_updated_at': dbt.type_timestamp(),
} -%}

{%- set sources = [
    {'model': 'stg_crm__contacts', 'source': 'crm_contacts', 'key': 'contact_id',
     'map': {'source_created_at': 'created_at', 'source_updated_at': 'updated_at'},
     'has': ['first_name', 'last_name', 'email', 'email_is_valid', 'phone', 'phone_is_valid', 'birth_date',
             'street', 'city', 'postcode', 'country', 'company', 'job_title', 'owner_name', 'owner_email',
             'lead_source', 'lifecycle_stage', 'competitor_name', 'competitor_contract_end_date']},
    {'model': 'stg_shop__customers', 'source': 'shop_customers', 'key': 'customer_id',
     'map': {'source_created_at': 'created_at', 'source_updated_at': 'updated_at'},
     'has': ['first_name', 'last_name', 'email', 'email_is_valid', 'phone', 'phone_is_valid', 'birth_date',
             'street', 'city', 'postcode', 'country', 'preferred_store', 'loyalty_status', 'loyalty_points',
             'accepts_marketing']},
    {'model': 'stg_support__tickets', 'source': 'support_tickets', 'key': 'ticket_id',
     'map': {'source_created_at': 'created_at', 'source_updated_at': 'created_at'},
     'has': ['first_name', 'last_name', 'email', 'email_is_valid', 'phone', 'phone_is_valid']},
    {'model': 'stg_forms__submissions', 'source': 'forms_submissions', 'key': 'submission_id',
     'map': {'source_created_at': 'submitted_at', 'source_updated_at': 'submitted_at'},
     'has': ['first_name', 'last_name', 'email', 'email_is_valid', 'phone', 'phone_is_valid', 'birth_date',
             'street', 'city', 'postcode', 'company', 'job_title', 'utm_source', 'utm_medium', 'utm_campaign']},
    {'model': 'stg_product__users', 'source': 'product_users', 'key': 'user_id',
     'map': {'source_created_at': 'signed_up_at', 'source_updated_at': 'signed_up_at'},
     'has': ['first_name', 'last_name', 'email', 'email_is_valid', 'company', 'plan', 'trial_ends_at']},
] -%}

with

{% for s in sources %}
{{ s.source }} as (

    select *
    from {{ ref(s.model) }}
    where is_latest_copy

),

{{ s.source }}_records as (

    select
        '{{ s.source }}' as source,
        cast({{ s.key }} as {{ dbt.type_string() }}) as source_record_id,
        {%- for c in columns %}
        {%- if c in s.has %}
        {{ c }} as {{ c }},
        {%- elif c in s.map %}
        {{ s.map[c] }} as {{ c }},
        {%- else %}
        cast(null as {{ types.get(c, dbt.type_string()) }}) as {{ c }},
        {%- endif %}
        {%- endfor %}
        loaded_at
    from {{ s.source }}

),

{% endfor %}

unioned as (

    {%- for s in sources %}
    select * from {{ s.source }}_records
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        {{ dbt.concat(['source', "'|'", 'source_record_id']) }} as person_record_id,
        {{ dbt.split_part('source', "'_'", 1) }} as source_system,
        unioned.*
    from unioned

)

select * from final
