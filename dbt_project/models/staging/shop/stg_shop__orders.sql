{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('shop_orders') }}

),

renamed as (

    select
        {{ clean_text('order_id') }} as order_id,
        _loader_id as loader_id,
        cast(customer_id as {{ dbt.type_string() }}) as customer_id,
        {{ email_fields('email') }},
        cast(ordered_at as timestamp) as ordered_at,
        lower(status) as status,
        lower(channel) as channel,
        store_id,
        upper(currency) as currency,
        cast(total_amount as {{ dbt.type_numeric() }}) as total_amount,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('order_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
