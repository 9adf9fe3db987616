{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

{#- SendGrid's global suppression lists as pulled (one row per type, address and
    creation time), with the Ferry suppression reason. Empty until the first pull. -#}
{%- set src = source('sendgrid', 'suppressions') -%}

with

source as (

    {{ ferry_source_or_empty(src, {
        'suppression_type': dbt.type_string(),
        'email': dbt.type_string(),
        'created': dbt.type_bigint(),
        'reason': dbt.type_string(),
        'status': dbt.type_string(),
        'received_at': dbt.type_timestamp(),
        'ingest_source': dbt.type_string()
    }) }}

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
