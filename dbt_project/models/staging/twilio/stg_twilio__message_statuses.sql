{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- Twilio message statuses, one row per (message, status) reached, with the status's
    rank in Twilio's lifecycle (the furthest one wins, whatever order callbacks came in)
    and the attribution carried in the StatusCallback URL copied to every row of the
    message. Empty until the first SMS engagement lands. -#}
{%- set src = source('twilio', 'message_status') -%}

with

source as (

    {{ ferry_source_or_empty(src, {
        'message_sid': dbt.type_string(),
        'message_status': dbt.type_string(),
        'to_number': dbt.type_string(),
        'from_number': dbt.type_string(),
        'error_code': dbt.type_string(),
        'direction': dbt.type_string(),
        'account_sid': dbt.type_string(),
        'event_at': dbt.type_timestamp(),
        'ferry_key': dbt.type_string(),
        'ferry_idempotency_key': dbt.type_string(),
        'attributes_json': dbt.type_string(),
        'received_at': dbt.type_timestamp(),
        'ingest_source': dbt.type_string()
    }) }}

),

renamed as (

    select
        {{ dbt.hash(dbt.concat(['message_sid', "'|'", 'lower(message_status)'])) }} as status_event_id,
        message_sid,
        lower(message_status) as message_status,
        {{ phone_fields('to_number') }},
        from_number,
        error_code,
        coalesce(event_at, received_at) as occurred_at,
        ferry_key,
        ferry_idempotency_key,
        {{ json_text('attributes_json', 'ferry_sync') }} as ferry_sync,
        {{ json_text('attributes_json', 'ferry_audience') }} as ferry_audience,
        {{ json_text('attributes_json', 'ferry_variant') }} as ferry_variant,
        ingest_source,
        received_at as loaded_at
    from source
    where coalesce(direction, 'outbound-api') <> 'inbound'

),

ranked as (

    select
        *,
        case message_status
            when 'accepted' then 1
            when 'scheduled' then 1
            when 'queued' then 2
            when 'sending' then 3
            when 'sent' then 4
            when 'delivered' then 5
            when 'undelivered' then 5
            when 'failed' then 5
            when 'read' then 6
            else 0
        end as status_rank,
        {{ dbt.concat(["'sms_'", 'message_status']) }} as event_type
    from renamed

),

-- pulled rows have no callback URL: lend them the attribution of their message's callbacks
attributed as (

    select
        status_event_id,
        message_sid,
        message_status,
        status_rank,
        event_type,
        phone,
        phone_is_valid,
        phone_invalid_reason,
        from_number,
        error_code,
        occurred_at,
        max(ferry_key) over (partition by message_sid) as ferry_key,
        max(ferry_idempotency_key) over (partition by message_sid) as ferry_idempotency_key,
        max(ferry_sync) over (partition by message_sid) as ferry_sync,
        max(ferry_audience) over (partition by message_sid) as ferry_audience,
        max(ferry_variant) over (partition by message_sid) as ferry_variant,
        ingest_source,
        loaded_at
    from ranked

),

-- the same (message, status) may land from a callback and from a pull: keep one
deduplicated as (

    select *
    from (
        select
            *,
            row_number() over (partition by status_event_id order by occurred_at, loaded_at) as copy_number
        from attributed
    ) as numbered
    where copy_number = 1

)

select
    status_event_id,
    message_sid,
    message_status,
    status_rank,
    event_type,
    phone,
    phone_is_valid,
    phone_invalid_reason,
    from_number,
    error_code,
    occurred_at,
    ferry_key,
    ferry_idempotency_key,
    ferry_sync,
    ferry_audience,
    ferry_variant,
    ingest_source,
    loaded_at
from deduplicated
