{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- SendGrid engagement in the shape of int_events (event_id, source, source_record_id,
    event_type, channel, occurred_at, category, amount, attributes_json) plus the
    recipient email fields, for the identity layer to map to profiles and union into
    customer_events: webhook events (source 'sendgrid_events') and the pulled global
    suppressions (source 'sendgrid_suppressions', event types email_unsubscribe,
    email_bounce, email_spam_report, email_invalid, email_blocked). -#}

with

events as (

    select * from {{ ref('stg_sendgrid__events') }}

),

suppressions as (

    select * from {{ ref('stg_sendgrid__suppressions') }}

),

from_events as (

    select
        'sendgrid_events' as source,
        event_id as source_record_id,
        event_type,
        occurred_at,
        email,
        email_is_valid,
        email_invalid_reason,
        {{ json_object_text({
            'sg_message_id': 'sg_message_id',
            'message_id': 'message_id',
            'ferry_key': 'ferry_key',
            'ferry_idempotency_key': 'ferry_idempotency_key',
            'ferry_sync': 'ferry_sync',
            'ferry_audience': 'ferry_audience',
            'ferry_variant': 'ferry_variant',
            'bounce_type': 'bounce_type',
            'url': 'url',
            'email_domain': 'email_domain'
        }) }} as attributes_json,
        loaded_at
    from events

),

from_suppressions as (

    select
        'sendgrid_suppressions' as source,
        suppression_id as source_record_id,
        case suppression_reason
            when 'unsubscribe' then 'email_unsubscribe'
            when 'bounce' then 'email_bounce'
            when 'spam_report' then 'email_spam_report'
            when 'invalid' then 'email_invalid'
            when 'block' then 'email_blocked'
        end as event_type,
        suppressed_at as occurred_at,
        email,
        email_is_valid,
        email_invalid_reason,
        {{ json_object_text({'suppression_type': 'suppression_type', 'vendor_status': 'vendor_status'}) }} as attributes_json,
        loaded_at
    from suppressions

),

unioned as (

    select * from from_events
    union all
    select * from from_suppressions

),

final as (

    select
        {{ dbt.concat(['source', "':'", 'source_record_id']) }} as event_id,
        source,
        source_record_id,
        event_type,
        'email' as channel,
        occurred_at,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        attributes_json,
        email,
        email_is_valid,
        email_invalid_reason,
        source_record_id as loader_id,
        loaded_at
    from unioned

)

select * from final
