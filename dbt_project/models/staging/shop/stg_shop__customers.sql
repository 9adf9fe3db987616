{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('shop_customers') }}

),

renamed as (

    select
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        _loader_id as loader_id,
        {{ clean_text('first_name') }} as first_name,
        {{ clean_text('last_name') }} as last_name,
        {{ email_fields('email') }},
        {{ phone_fields('phone') }},
        birth_date,
        {{ clean_text('street') }} as street,
        {{ clean_text('city') }} as city,
        {{ clean_text('postcode') }} as postcode,
        upper({{ clean_text('country') }}) as country,
        lower({{ clean_text('preferred_store') }}) as preferred_store,
        lower({{ clean_text('loyalty_status') }}) as loyalty_status,
        loyalty_points,
        accepts_marketing,
        -- the shop database stores UTC without a zone
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('customer_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
