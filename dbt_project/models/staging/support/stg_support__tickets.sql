{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('support_tickets') }}

),

renamed as (

    select
        {{ clean_text('ticket_id') }} as ticket_id,
        _loader_id as loader_id,
        {{ clean_text('requester_id') }} as requester_id,
        {{ clean_text('requester_name') }} as requester_name,
        {{ email_fields('requester_email', 'email') }},
        {{ phone_fields('requester_phone', 'phone') }},
        lower(category) as category,
        subject,
        lower(priority) as priority,
        lower(status) as status,
        {{ iso_to_utc('created_at') }} as created_at,
        {{ iso_to_utc('solved_at') }} as solved_at,
        _loaded_at as loaded_at

    from source

),

-- The help desk keeps one free-text name: first word = first name, rest = last name.
split_names as (

    select
        *,
        nullif(split_part(requester_name, ' ', 1), '') as first_name,
        nullif(trim(substr(requester_name, length(split_part(requester_name, ' ', 1)) + 2)), '') as last_name
    from renamed

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('ticket_id') }} as is_latest_copy
    from split_names

)

select * from deduplicated
