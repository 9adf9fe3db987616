{#- Raw records that identity resolution and the timeline could not use, one row
    per (record, reason): a missing key, an older copy of a duplicated key, no
    usable (valid) identifier at all, a missing timestamp, or an order line whose
    order is missing. Invalid single values (a bad email on a good record) are
    not here: they are flagged in staging and int_identifiers. -#}

{%- set sources = [
    {'model': 'stg_crm__contacts', 'source': 'crm_contacts', 'key': 'contact_id', 'ts': 'updated_at'},
    {'model': 'stg_shop__customers', 'source': 'shop_customers', 'key': 'customer_id', 'ts': 'updated_at'},
    {'model': 'stg_shop__orders', 'source': 'shop_orders', 'key': 'order_id', 'ts': 'ordered_at'},
    {'model': 'int_order_lines_joined', 'source': 'shop_order_lines', 'key': 'order_line_id', 'ts': 'ordered_at'},
    {'model': 'stg_shop__abandoned_carts', 'source': 'shop_abandoned_carts', 'key': 'cart_id', 'ts': 'created_at'},
    {'model': 'stg_web__events', 'source': 'web_events', 'key': 'event_id', 'ts': 'occurred_at'},
    {'model': 'stg_support__tickets', 'source': 'support_tickets', 'key': 'ticket_id', 'ts': 'created_at'},
    {'model': 'stg_support__surveys', 'source': 'support_surveys', 'key': 'survey_response_id', 'ts': 'submitted_at'},
    {'model': 'stg_forms__submissions', 'source': 'forms_submissions', 'key': 'submission_id', 'ts': 'submitted_at'},
    {'model': 'stg_product__users', 'source': 'product_users', 'key': 'user_id', 'ts': 'signed_up_at'},
    {'model': 'stg_product__events', 'source': 'product_events', 'key': 'event_id', 'ts': 'occurred_at'},
    {'model': 'stg_consent__changes', 'source': 'consent_changes', 'key': 'change_id', 'ts': 'changed_at'},
    {'model': 'stg_consent__erasure_requests', 'source': 'consent_erasure_requests', 'key': 'request_id', 'ts': 'requested_at'},
] -%}

with

all_rows as (

    {%- for s in sources %}
    select
        '{{ s.source }}' as source,
        cast({{ s.key }} as {{ dbt.type_string() }}) as source_record_id,
        loader_id,
        {{ s.ts }} as record_at,
        loaded_at,
        is_latest_copy
    from {{ ref(s.model) }}
    {%- if not loop.last %}

    union all
    {% endif %}
    {%- endfor %}

),

valid_identifiers as (

    select distinct
        source,
        source_record_id
    from {{ ref('int_identifiers') }}
    where is_valid

),

order_lines as (

    select * from {{ ref('int_order_lines_joined') }}

),

missing_key as (

    select
        source,
        source_record_id,
        loader_id,
        'missing_key' as reason,
        'the source record has no primary key' as detail,
        loaded_at
    from all_rows
    where source_record_id is null

),

duplicate_key as (

    select
        source,
        source_record_id,
        loader_id,
        'duplicate_key' as reason,
        'an older copy of a key loaded more than once; the latest copy is used' as detail,
        loaded_at
    from all_rows
    where source_record_id is not null
        and not is_latest_copy

),

missing_timestamp as (

    select
        source,
        source_record_id,
        loader_id,
        'missing_timestamp' as reason,
        'the record time is missing or unparseable' as detail,
        loaded_at
    from all_rows
    where source_record_id is not null
        and is_latest_copy
        and record_at is null

),

no_usable_identifier as (

    select
        all_rows.source,
        all_rows.source_record_id,
        all_rows.loader_id,
        'no_usable_identifier' as reason,
        'no valid customer id, email, phone or anonymous id: cannot be linked to a person' as detail,
        all_rows.loaded_at
    from all_rows
    left join valid_identifiers
        on all_rows.source = valid_identifiers.source
        and all_rows.source_record_id = valid_identifiers.source_record_id
    where all_rows.source_record_id is not null
        and all_rows.is_latest_copy
        and valid_identifiers.source_record_id is null

),

orphan_order_lines as (

    select
        'shop_order_lines' as source,
        order_line_id as source_record_id,
        loader_id,
        'missing_parent' as reason,
        'order line whose order is missing or has no key' as detail,
        loaded_at
    from order_lines
    where is_latest_copy
        and not has_order

),

unioned as (

    select * from missing_key
    union all
    select * from duplicate_key
    union all
    select * from missing_timestamp
    union all
    select * from no_usable_identifier
    union all
    select * from orphan_order_lines

),

final as (

    select
        {{ dbt.hash(dbt.concat(['source', "'|'", 'loader_id', "'|'", 'reason'])) }} as quarantine_id,
        source,
        source_record_id,
        loader_id,
        reason,
        detail,
        loaded_at
    from unioned

)

select * from final
