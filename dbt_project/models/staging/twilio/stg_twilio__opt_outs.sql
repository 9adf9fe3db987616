{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- SMS opt-outs and opt-ins per recipient: STOP-family replies and Twilio's 21610
    refusals (opted_out = true), START-family replies (false). Empty until the first lands. -#}
{%- set src = source('twilio', 'opt_outs') -%}
{%- set landed = not execute or load_relation(src) is not none -%}

with

source as (

    {% if landed -%}
    select * from {{ src }}
    {%- else -%}
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        cast(null as {{ dbt.type_string() }}) as phone,
        cast(null as {{ dbt.type_string() }}) as sender,
        cast(null as {{ dbt.type_string() }}) as keyword,
        cast(null as {{ dbt.type_boolean() }}) as opted_out,
        cast(null as {{ dbt.type_timestamp() }}) as event_at,
        cast(null as {{ dbt.type_timestamp() }}) as received_at,
        cast(null as {{ dbt.type_string() }}) as ingest_source
    where 1 = 0
    {%- endif %}

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
