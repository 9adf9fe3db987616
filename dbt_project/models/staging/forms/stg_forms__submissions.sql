{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('forms_submissions') }}

),

renamed as (

    select
        {{ clean_text('submission_id') }} as submission_id,
        _loader_id as loader_id,
        lower(form_type) as form_type,
        {{ clean_text('asset') }} as asset,
        {{ email_fields('email') }},
        {{ phone_fields('phone') }},
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ clean_text('company') }} as company,
        {{ clean_text('job_title') }} as job_title,
        {{ clean_text('street') }} as street,
        {{ clean_text('city') }} as city,
        {{ clean_text('postcode') }} as postcode,
        {{ safe_date(clean_text('birth_date')) }} as birth_date,
        consent_email,
        consent_sms,
        lower(utm_source) as utm_source,
        lower(utm_medium) as utm_medium,
        lower(utm_campaign) as utm_campaign,
        {{ iso_to_utc('submitted_at') }} as submitted_at,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('submission_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
