-- Main interest: the product category with the highest weighted activity in
-- var main_interest_window_days (views x view weight + purchases x order weight);
-- ties go to the most recent activity, then the category name.
with activity as (
    select
        profile_id,
        lower(trim(category)) as category,
        occurred_at,
        case
            when event_type in {{ event_types_for('order') }}
                or event_type in {{ event_types_for('purchased_product') }}
                then {{ var('main_interest_order_weight', 5.0) | float }}
            else {{ var('main_interest_view_weight', 1.0) | float }}
        end as weight,
        case
            when
                event_type in {{ event_types_for('order') }} or event_type in {{ event_types_for('purchased_product') }}
                then 1
            else 0
        end as is_order
    from {{ ref('customer_events') }}
    where (
        event_type in {{ event_types_for('order') }}
        or event_type in {{ event_types_for('purchased_product') }}
        or event_type in {{ event_types_for('product_view') }}
        or event_type in {{ event_types_for('cart_add') }}
    )
    and category is not null
    and trim(category) <> ''
    and occurred_at <= {{ audiences_as_of() }}
    and occurred_at > {{ audiences_days_ago(var('main_interest_window_days', 180)) }}
),

per_category as (
    select
        profile_id,
        category,
        sum(weight) as interest_score,
        sum(is_order) as orders_in_category,
        count(*) - sum(is_order) as views_in_category,
        max(occurred_at) as last_activity_at
    from activity
    group by profile_id, category
),

ranked as (
    select
        per_category.*,
        row_number() over (
            partition by profile_id
            order by interest_score desc, last_activity_at desc, category asc
        ) as interest_rank
    from per_category
),

final as (
    select
        profile_id,
        category as main_interest,
        interest_score as main_interest_score,
        views_in_category as main_interest_views,
        orders_in_category as main_interest_orders
    from ranked
    where interest_rank = 1
)

select * from final
