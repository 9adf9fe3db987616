{#- One row per message the sync engine handed to a destination and got an id back
    for (ferry_sync.send_ledger rows with a destination_id): the sync, audience and
    A/B variant it was sent for, keyed by the destination's message id, so engagement
    that comes back with only that id (a pulled Twilio status) is attributed. Only the
    ferry_* attribution leaves the payload: the recipient's address stays in the ledger.
    Empty until the first sync runs (the engine creates ferry_sync). -#}
{%- set src = source('ferry_sync', 'send_ledger') -%}

with

source as (

    {{ ferry_source_or_empty(src, {
        'sync_name': dbt.type_string(),
        'idempotency_key': dbt.type_string(),
        'record_key': dbt.type_string(),
        'status': dbt.type_string(),
        'payload_json': dbt.type_string(),
        'destination_id': dbt.type_string(),
        'destination_key': dbt.type_string(),
        'created_at': dbt.type_timestamp(),
        'updated_at': dbt.type_timestamp()
    }) }}

),

renamed as (

    select
        destination_id,
        sync_name,
        idempotency_key,
        record_key,
        status as ledger_status,
        -- destination_key is '<type>:<where>:...' (connectors.base.identity)
        {{ dbt.split_part('destination_key', "':'", 1) }} as destination_type,
        coalesce(
            {{ json_text('payload_json', 'ferry_audience') }},
            {{ dbt.split_part('sync_name', "'__'", 1) }}
        ) as audience_name,
        {{ json_text('payload_json', 'ferry_variant') }} as variant,
        created_at as intent_at,
        updated_at
    from source
    where destination_id is not null

),

-- a destination id names one message; should two ledger rows ever share one, the latest wins
deduplicated as (

    select *
    from (
        select
            *,
            row_number() over (
                partition by destination_id order by updated_at desc, sync_name asc, idempotency_key asc
            ) as copy_number
        from renamed
    ) as numbered
    where copy_number = 1

)

select
    destination_id,
    sync_name,
    idempotency_key,
    record_key,
    ledger_status,
    destination_type,
    audience_name,
    variant,
    intent_at,
    updated_at
from deduplicated
