{#- Order lines carry no customer of their own: take it (and the order time and a
    guest order's email) from the order, so lines can be linked and dated. -#}
with

order_lines as (

    select * from {{ ref('stg_shop__order_lines') }}

),

orders as (

    select
        order_id,
        customer_id,
        email,
        email_is_valid,
        email_invalid_reason,
        ordered_at,
        status,
        channel,
        store_id,
        currency
    from {{ ref('stg_shop__orders') }}
    where is_latest_copy

),

joined as (

    select
        order_lines.*,
        orders.order_id is not null as has_order,
        orders.customer_id,
        orders.email,
        orders.email_is_valid,
        orders.email_invalid_reason,
        orders.ordered_at,
        orders.status as order_status,
        orders.channel as order_channel,
        orders.store_id,
        orders.currency
    from order_lines
    left join orders
        on order_lines.order_id = orders.order_id

)

select * from joined
