with

source as (

    select * from {{ source('shop', 'orders') }}

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

select * from renamed
