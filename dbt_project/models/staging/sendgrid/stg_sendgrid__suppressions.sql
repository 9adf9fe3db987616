{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- SendGrid's global suppression lists as pulled (one row per type, address and
    creation time), with the Ferry suppression reason. Empty until the first pull. -#}
{%- set src = source('sendgrid', 'suppressions') -%}
{%- set landed = not execute or load_relation(src) is not none -%}

with

source as (

    {% if landed -%}
    select * from {{ src }}
    {%- else -%}
    select
        cast(null as {{ dbt.type_string() }}) as suppression_type,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_bigint() }}) as created,
        cast(null as {{ dbt.type_string() }}) as reason,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as {{ dbt.type_timestamp() }}) as received_at,
        cast(null as {{ dbt.type_string() }}) as ingest_source
    where 1 = 0
    {%- endif %}

),

renamed as (

    select
        {{ dbt.hash(dbt.concat(['suppression_type', "'|'", 'email', "'|'", dbt.safe_cast('created', dbt.type_string())])) }} as suppression_id,
        suppression_type,
        case suppression_type
            when 'unsubscribes' then 'unsubscribe'
            when 'bounces' then 'bounce'
            when 'spam_reports' then 'spam_report'
            when 'invalid_emails' then 'invalid'
            when 'blocks' then 'block'
        end as suppression_reason,
        {{ email_fields('email') }},
        {{ epoch_ms_to_utc('created * 1000') }} as suppressed_at,
        reason as vendor_reason,
        status as vendor_status,
        received_at as loaded_at
    from source

)

select * from renamed
