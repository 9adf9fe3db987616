{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('crm_contacts') }}

),

renamed as (

    select
        {{ clean_text('contact_id') }} as contact_id,
        _loader_id as loader_id,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ email_fields('email') }},
        {{ phone_fields('phone') }},
        {{ national_id_fields('national_id') }},
        {{ clean_text('company') }} as company,
        {{ clean_text('job_title') }} as job_title,
        {{ clean_text('street') }} as street,
        {{ clean_text('city') }} as city,
        {{ clean_text('postcode') }} as postcode,
        upper({{ clean_text('country') }}) as country,
        birth_date,
        {{ clean_text('owner_name') }} as owner_name,
        {{ normalize_email('owner_email') }} as owner_email,
        lower({{ clean_text('lead_source') }}) as lead_source,
        lower({{ clean_text('lifecycle_stage') }}) as lifecycle_stage,
        {{ clean_text('competitor_name') }} as competitor_name,
        competitor_contract_end_date,
        notes,
        {{ iso_to_utc('created_at') }} as created_at,
        {{ iso_to_utc('updated_at') }} as updated_at,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('contact_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
