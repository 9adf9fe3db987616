{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('shop_order_lines') }}

),

renamed as (

    select
        {{ clean_text('order_line_id') }} as order_line_id,
        _loader_id as loader_id,
        {{ clean_text('order_id') }} as order_id,
        sku,
        product_name,
        lower(product_category) as product_category,
        quantity,
        cast(unit_price as {{ dbt.type_numeric() }}) as unit_price,
        cast(quantity * unit_price as {{ dbt.type_numeric() }}) as line_amount,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('order_line_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
