{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- Twilio SMS engagement in the shape of int_events (event_id, source, source_record_id,
    event_type, channel, occurred_at, category, amount, attributes_json) plus the
    recipient phone fields, for the identity layer to map to profiles and union into
    customer_events: message statuses (source 'twilio_message_status', event types
    sms_queued, sms_sent, sms_delivered, sms_undelivered, sms_failed...) and opt-outs
    (source 'twilio_opt_outs', sms_stop, sms_start, sms_opt_out). -#}

with

statuses as (

    select * from {{ ref('stg_twilio__message_statuses') }}

),

opt_outs as (

    select * from {{ ref('stg_twilio__opt_outs') }}

),

from_statuses as (

    select
        'twilio_message_status' as source,
        status_event_id as source_record_id,
        event_type,
        occurred_at,
        phone,
        phone_is_valid,
        phone_invalid_reason,
        {{ json_object_text({
            'message_sid': 'message_sid',
            'error_code': 'error_code',
            'ferry_key': 'ferry_key',
            'ferry_idempotency_key': 'ferry_idempotency_key',
            'ferry_sync': 'ferry_sync',
            'ferry_audience': 'ferry_audience',
            'ferry_variant': 'ferry_variant'
        }) }} as attributes_json,
        loaded_at
    from statuses

),

from_opt_outs as (

    select
        'twilio_opt_outs' as source,
        opt_out_event_id as source_record_id,
        event_type,
        occurred_at,
        phone,
        phone_is_valid,
        phone_invalid_reason,
        {{ json_object_text({'keyword': 'keyword', 'sender_number': 'sender_number'}) }} as attributes_json,
        loaded_at
    from opt_outs

),

unioned as (

    select * from from_statuses
    union all
    select * from from_opt_outs

),

final as (

    select
        {{ dbt.concat(['source', "':'", 'source_record_id']) }} as event_id,
        source,
        source_record_id,
        event_type,
        'sms' as channel,
        occurred_at,
        cast(null as {{ dbt.type_string() }}) as category,
        cast(null as {{ dbt.type_numeric() }}) as amount,
        attributes_json,
        phone,
        phone_is_valid,
        phone_invalid_reason,
        source_record_id as loader_id,
        loaded_at
    from unioned

)

select * from final
