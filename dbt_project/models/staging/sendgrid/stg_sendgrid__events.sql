{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- SendGrid event-webhook events, one row per sg_event_id, typed and named the Ferry way
    (event_type 'email_<event>'), with the attribution that travelled in custom_args.
    Before any engagement has landed, raw.sendgrid_events may not exist yet: the model
    is then empty rather than failing the build. -#}
{%- set src = source('sendgrid', 'events') -%}

with

source as (

    {{ ferry_source_or_empty(src, {
        'sg_event_id': dbt.type_string(),
        'sg_message_id': dbt.type_string(),
        'event': dbt.type_string(),
        'email': dbt.type_string(),
        'event_timestamp': dbt.type_bigint(),
        'bounce_type': dbt.type_string(),
        'reason': dbt.type_string(),
        'url': dbt.type_string(),
        'ferry_key': dbt.type_string(),
        'ferry_idempotency_key': dbt.type_string(),
        'payload_json': dbt.type_string(),
        'received_at': dbt.type_timestamp(),
        'ingest_source': dbt.type_string()
    }) }}

),

renamed as (

    select
        sg_event_id as event_id,
        sg_event_id as loader_id,
        sg_message_id,
        -- the X-Message-Id of the send: sg_message_id is '<x-message-id>.<filter>...'
        {{ dbt.split_part('sg_message_id', "'.'", 1) }} as message_id,
        lower(event) as sendgrid_event,
        {{ email_fields('email') }},
        lower(bounce_type) as bounce_type,
        reason,
        url,
        {{ epoch_ms_to_utc('event_timestamp * 1000') }} as occurred_at,
        ferry_key,
        ferry_idempotency_key,
        {{ json_text('payload_json', 'ferry_sync') }} as ferry_sync,
        {{ json_text('payload_json', 'ferry_audience') }} as ferry_audience,
        {{ json_text('payload_json', 'ferry_variant') }} as ferry_variant,
        ingest_source,
        received_at as loaded_at
    from source

),

typed as (

    select
        *,
        case
            when sendgrid_event = 'bounce' and bounce_type = 'blocked' then 'email_blocked'
            when sendgrid_event = 'spamreport' then 'email_spam_report'
            else {{ dbt.concat(["'email_'", 'sendgrid_event']) }}
        end as event_type,
        lower({{ dbt.split_part('email', "'@'", 2) }}) as email_domain
    from renamed

)

select * from typed
