-- RFM per ordering profile over var rfm_window_days: recency (days since the last
-- order), frequency (orders), monetary (revenue), each as a quintile 1..5 where 5
-- is best, from percent_rank so ties share a quintile; then a named segment.
with orders as (
    select
        profile_id,
        occurred_at,
        coalesce(amount, 0) as amount
    from {{ ref('customer_events') }}
    where event_type in {{ event_types_for('order') }}
        and occurred_at <= {{ audiences_as_of() }}
        and occurred_at > {{ audiences_days_ago(var('rfm_window_days', 730)) }}
),

per_profile as (
    select
        profile_id,
        max(occurred_at) as last_order_at,
        count(*) as order_count,
        cast(sum(amount) as decimal(38, 6)) as monetary
    from orders
    group by profile_id
),

measured as (
    select
        per_profile.*,
        {{ dbt.datediff('last_order_at', audiences_as_of(), 'day') }} as recency_days
    from per_profile
),

ranked as (
    select
        measured.*,
        least(5, 1 + floor(5 * percent_rank() over (order by recency_days desc))) as rfm_recency,
        least(5, 1 + floor(5 * percent_rank() over (order by order_count asc))) as rfm_frequency,
        least(5, 1 + floor(5 * percent_rank() over (order by monetary asc))) as rfm_monetary
    from measured
),

final as (
    select
        profile_id,
        last_order_at,
        recency_days,
        order_count,
        monetary,
        cast(rfm_recency as integer) as rfm_recency,
        cast(rfm_frequency as integer) as rfm_frequency,
        cast(rfm_monetary as integer) as rfm_monetary,
        {{ dbt.concat([
            dbt.safe_cast('cast(rfm_recency as integer)', dbt.type_string()),
            dbt.safe_cast('cast(rfm_frequency as integer)', dbt.type_string()),
            dbt.safe_cast('cast(rfm_monetary as integer)', dbt.type_string()),
        ]) }} as rfm_score,
        case
            when rfm_recency >= 4 and rfm_frequency >= 4 and rfm_monetary >= 4 then 'champions'
            when rfm_recency >= 3 and rfm_frequency >= 4 then 'loyal'
            when rfm_recency >= 4 and order_count = 1 then 'new'
            when rfm_recency >= 4 and rfm_frequency >= 2 then 'potential_loyalist'
            when rfm_recency <= 1 and rfm_frequency >= 4 then 'cant_lose'
            when rfm_recency <= 2 and rfm_frequency >= 3 then 'at_risk'
            when rfm_recency <= 2 and rfm_frequency <= 2 then 'hibernating'
            else 'needs_attention'
        end as rfm_segment
    from ranked
)

select * from final
