{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('consent_changes') }}

),

renamed as (

    select
        {{ clean_text('change_id') }} as change_id,
        _loader_id as loader_id,
        {{ email_fields('email') }},
        {{ phone_fields('phone') }},
        lower(channel) as channel,
        lower(action) as action,
        lower(action) = 'subscribed' as is_consented,
        lower(source_system) as source_system,
        {{ iso_to_utc('changed_at') }} as changed_at,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('change_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
