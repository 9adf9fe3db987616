{#- One timeline row per interaction, every source: orders and purchased products,
    abandoned carts, web behaviour, support tickets and surveys, form sign-ups,
    product usage, consent changes and erasure requests. event_id is
    '<source>:<source_record_id>' (unique across sources); details that differ by
    source go into attributes_json. -#}

with

orders as (

    select
        'shop_orders' as source,
        order_id as source_record_id,
        'order_placed' as event_type,
        channel as channel,
        ordered_at as occurred_at,
        cast(null as {{ dbt.type_string() }}) as category,
        total_amount as amount,
        {{ json_object_text({'status': 'status', 'store_id': 'store_id', 'currency': 'currency'}) }} as attributes_json
    from {{ ref('stg_shop__orders') }}
    where is_latest_copy

),

order_lines as (

    select
        'shop_order_lines' as source,
        order_line_id as source_record_id,
        'product_purchased' as event_type,
        order_channel as channel,
        ordered_at as occurred_at,
        product_category as category,
        line_amount as amount,
        {{ json_object_text({'order_id': 'order_id', 'sku': 'sku', 'product_name': 'product_name', 'quantity': 'quantity', 'order_status': 'order_status'}) }} as attributes_json
    from {{ ref('int_order_lines_joined') }}
    where is_latest_copy
        and has_order

),

abandoned_carts as (

    select
        'shop_abandoned_carts' as source,
        cart_id as source_record_id,
        'cart_abandoned' as event_type,
        'web' as channel,
        created_at as occurred_at,
        top_category as category,
        cart_value as amount,
        {{ json_object_text({'item_count': 'item_count', 'checkout_url': 'checkout_url'}) }} as attributes_json
    from {{ ref('stg_shop__abandoned_carts') }}
    where is_latest_copy

),

web_events as (

    select
        'web_events' as source,
        event_id as source_record_id,
        event_type as event_type,
        'web' as channel,
        occurred_at as occurred_at,
        page_category as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        {{ json_object_text({'page_path': 'page_path', 'utm_source': 'utm_source', 'utm_medium': 'utm_medium', 'utm_campaign': 'utm_campaign', 'referrer': 'referrer', 'device_type': 'device_type'}) }} as attributes_json
    from {{ ref('stg_web__events') }}
    where is_latest_copy

),

support_tickets as (

    select
        'support_tickets' as source,
        ticket_id as source_record_id,
        'support_ticket_opened' as event_type,
        'support' as channel,
        created_at as occurred_at,
        category as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        {{ json_object_text({'priority': 'priority', 'status': 'status', 'solved_at': 'solved_at'}) }} as attributes_json
    from {{ ref('stg_support__tickets') }}
    where is_latest_copy

),

support_surveys as (

    select
        'support_surveys' as source,
        survey_response_id as source_record_id,
        'survey_answered' as event_type,
        'support' as channel,
        submitted_at as occurred_at,
        survey_type as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        {{ json_object_text({'survey_type': 'survey_type', 'score': 'score', 'ticket_id': 'ticket_id'}) }} as attributes_json
    from {{ ref('stg_support__surveys') }}
    where is_latest_copy

),

form_submissions as (

    select
        'forms_submissions' as source,
        submission_id as source_record_id,
        case form_type
            when 'newsletter' then 'newsletter_signup'
            when 'lead_magnet' then 'lead_magnet_download'
            when 'demo_request' then 'demo_request'
            when 'trade_show' then 'trade_show_signup'
            when 'in_store' then 'in_store_signup'
            else {{ dbt.concat(["'form_'", 'form_type']) }}
        end as event_type,
        case when form_type in ('trade_show', 'in_store') then 'offline' else 'web' end as channel,
        submitted_at as occurred_at,
        asset as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        {{ json_object_text({'form_type': 'form_type', 'asset': 'asset', 'consent_email': 'consent_email', 'consent_sms': 'consent_sms', 'utm_source': 'utm_source', 'utm_medium': 'utm_medium', 'utm_campaign': 'utm_campaign'}) }} as attributes_json
    from {{ ref('stg_forms__submissions') }}
    where is_latest_copy

),

product_events as (

    select
        'product_events' as source,
        event_id as source_record_id,
        {{ dbt.concat(["'product_'", 'event_name']) }} as event_type,
        'product' as channel,
        occurred_at as occurred_at,
        feature_name as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        {{ json_object_text({'event_name': 'event_name', 'feature_name': 'feature_name'}) }} as attributes_json
    from {{ ref('stg_product__events') }}
    where is_latest_copy
        and user_id is not null

),

consent_changes as (

    select
        'consent_changes' as source,
        change_id as source_record_id,
        'consent_changed' as event_type,
        channel as channel,
        changed_at as occurred_at,
        action as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        {{ json_object_text({'action': 'action', 'is_consented': 'is_consented', 'source_system': 'source_system'}) }} as attributes_json
    from {{ ref('stg_consent__changes') }}
    where is_latest_copy

),

erasure_requests as (

    select
        'consent_erasure_requests' as source,
        request_id as source_record_id,
        'erasure_requested' as event_type,
        'privacy' as channel,
        requested_at as occurred_at,
        status as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        {{ json_object_text({'status': 'status'}) }} as attributes_json
    from {{ ref('stg_consent__erasure_requests') }}
    where is_latest_copy

),

unioned as (

    select * from orders
    union all
    select * from order_lines
    union all
    select * from abandoned_carts
    union all
    select * from web_events
    union all
    select * from support_tickets
    union all
    select * from support_surveys
    union all
    select * from form_submissions
    union all
    select * from product_events
    union all
    select * from consent_changes
    union all
    select * from erasure_requests
    {%- for engagement in ['int_sendgrid_engagement_events', 'int_twilio_engagement_events'] %}
    union all
    -- engagement pulled back from the tools (deliveries, opens, clicks, bounces, STOP...)
    select source, source_record_id, event_type, channel, occurred_at, category, amount, attributes_json
    from {{ ref(engagement) }}
    {%- endfor %}

),

final as (

    select
        {{ dbt.concat(['source', "':'", 'source_record_id']) }} as event_id,
        source,
        {{ dbt.split_part('source', "'_'", 1) }} as source_system,
        source_record_id,
        event_type,
        channel,
        occurred_at,
        category,
        amount,
        attributes_json
    from unioned

)

select * from final
