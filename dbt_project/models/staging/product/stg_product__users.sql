{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('product_users') }}

),

renamed as (

    select
        {{ clean_text('user_id') }} as user_id,
        _loader_id as loader_id,
        {{ email_fields('email') }},
        {{ clean_text('full_name') }} as full_name,
        {{ clean_text('company') }} as company,
        lower(plan) as plan,
        cast(signed_up_at as timestamp) as signed_up_at,
        cast(trial_ends_at as timestamp) as trial_ends_at,
        _loaded_at as loaded_at

    from source

),

split_names as (

    select
        *,
        nullif(split_part(full_name, ' ', 1), '') as first_name,
        nullif(trim(substr(full_name, length(split_part(full_name, ' ', 1)) + 2)), '') as last_name
    from renamed

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('user_id') }} as is_latest_copy
    from split_names

)

select * from deduplicated
