-- Behavioural score: recency-decayed weighted activity. Each event counts its
-- type's weight (var behavioural_weights: visits, form submits, cart adds,
-- downloads, demo requests, orders, and email opens/clicks once engagement flows
-- back) times 0.5^(age / behavioural_half_life_days), over a window.
with activity as (
    select
        profile_id,
        event_type,
        occurred_at,
        {{ weight_case('event_type', 'behavioural_weights') }} as weight,
        {{ audiences_age_days('occurred_at') }} as age_days
    from {{ ref('customer_events') }}
    where event_type in (
            '{{ var('behavioural_weights', {}).keys() | join("', '") }}'
        )
        and occurred_at <= {{ audiences_as_of() }}
        and occurred_at > {{ audiences_days_ago(var('behavioural_window_days', 365)) }}
),

final as (
    select
        profile_id,
        {{ audiences_round(
            "sum(weight * " ~ audiences_decay('age_days', var('behavioural_half_life_days', 30)) ~ ")", 4
        ) }}
            as behavioural_score,
        count(*) as scored_events,
        sum(case when event_type in ('email_open', 'email_click') then 1 else 0 end) as email_engagements,
        max(occurred_at) as last_activity_at
    from activity
    group by profile_id
)

select * from final
