{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('shop_abandoned_carts') }}

),

renamed as (

    select
        {{ clean_text('cart_id') }} as cart_id,
        _loader_id as loader_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        {{ email_fields('email') }},
        cast(created_at as timestamp) as created_at,
        item_count,
        cast(cart_value as {{ dbt.type_numeric() }}) as cart_value,
        lower(top_category) as top_category,
        checkout_url,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('cart_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
