{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- SMS opt-outs and opt-ins per recipient: STOP-family replies and Twilio's 21610
    refusals (opted_out = true), START-family replies (false). Empty until the first lands. -#}
{%- set src = source('twilio', 'opt_outs') -%}

with

source as (

    {{ ferry_source_or_empty(src, {
        'event_id': dbt.type_string(),
        'phone': dbt.type_string(),
        'sender': dbt.type_string(),
        'keyword': dbt.type_string(),
        'opted_out': dbt.type_boolean(),
        'event_at': dbt.type_timestamp(),
        'received_at': dbt.type_timestamp(),
        'ingest_source': dbt.type_string()
    }) }}

),

renamed as (

    select
        event_id as opt_out_event_id,
        {{ phone_fields('phone') }},
        sender as sender_number,
        upper(keyword) as keyword,
        opted_out,
        case
            when keyword = '21610' then 'sms_opt_out'
            when opted_out then 'sms_stop'
            else 'sms_start'
        end as event_type,
        coalesce(event_at, received_at) as occurred_at,
        ingest_source,
        received_at as loaded_at
    from source

)

select * from renamed
