{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('consent_erasure_requests') }}

),

renamed as (

    select
        {{ clean_text('request_id') }} as request_id,
        _loader_id as loader_id,
        {{ email_fields('email') }},
        {{ phone_fields('phone') }},
        cast(requested_at as timestamp) as requested_at,
        lower(status) as status,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('request_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
