{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('support_surveys') }}

),

renamed as (

    select
        {{ clean_text('survey_response_id') }} as survey_response_id,
        _loader_id as loader_id,
        {{ clean_text('ticket_id') }} as ticket_id,
        {{ clean_text('requester_id') }} as requester_id,
        {{ email_fields('respondent_email', 'email') }},
        lower(survey_type) as survey_type,
        score,
        comment,
        {{ iso_to_utc('submitted_at') }} as submitted_at,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('survey_response_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
