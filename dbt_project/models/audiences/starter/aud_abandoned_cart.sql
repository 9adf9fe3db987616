-- Abandoned cart: added to cart in the last var abandoned_cart_hours (24 h) and
-- placed no order since. Send mode: one message per cart (occurrence = the last
-- cart add), 10% holdout.
with events as (
    select
        profile_id,
        event_type,
        occurred_at,
        category,
        amount
    from {{ ref('customer_events') }}
    where occurred_at <= {{ audiences_as_of() }}
),

cart_adds as (
    select
        profile_id,
        occurred_at,
        category,
        amount,
        row_number() over (partition by profile_id order by occurred_at desc, category asc) as cart_rank
    from events
    where event_type in {{ event_types_for('cart_add') }}
        and occurred_at > {{ dbt.dateadd('hour', -1 * (var('abandoned_cart_hours', 24) | int), audiences_as_of()) }}
),

last_orders as (
    select
        profile_id,
        max(occurred_at) as last_order_at
    from events
    where event_type in {{ event_types_for('order') }}
    group by profile_id
),

candidates as (
    select
        cart_adds.profile_id,
        cart_adds.occurred_at as cart_added_at,
        cart_adds.category as cart_category,
        cart_adds.amount as cart_amount
    from cart_adds
    left join last_orders on last_orders.profile_id = cart_adds.profile_id
    where cart_adds.cart_rank = 1
        and (last_orders.last_order_at is null or last_orders.last_order_at < cart_adds.occurred_at)
),

eligible as (
    select candidates.*
    from candidates
    where {{ audience_eligible('email', 'candidates.profile_id') }}
),

final as (
    select
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_abandoned_cart', {'holdout': 10, 'treatment': 90}) }}
            as variant,
        profiles.email,
        profiles.first_name,
        eligible.cart_added_at,
        eligible.cart_category,
        eligible.cart_amount
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    where profiles.email is not null
)

select * from final
