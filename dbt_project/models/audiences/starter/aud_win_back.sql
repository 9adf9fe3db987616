-- Win-back: customers whose last order is older than var lapsed_after_days (lapsed
-- or churned lifecycle), with a 10% holdout to measure the campaign's uplift.
with scores as (
    select * from {{ ref('customer_scores') }}
),

candidates as (
    select
        profile_id,
        lifecycle_stage,
        days_since_last_order,
        last_order_at,
        churn_risk,
        churn_reason,
        main_interest,
        rfm_segment
    from scores
    where lifecycle_stage in ('lapsed', 'churned')
),

eligible as (
    select candidates.*
    from candidates
    where {{ audience_eligible('email', 'candidates.profile_id') }}
),

final as (
    select
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_win_back', {'holdout': 10, 'treatment': 90}) }} as variant,
        profiles.email,
        profiles.first_name,
        profiles.last_name,
        eligible.lifecycle_stage,
        eligible.days_since_last_order,
        eligible.last_order_at,
        eligible.churn_risk,
        eligible.churn_reason,
        eligible.main_interest,
        eligible.rfm_segment
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    where profiles.email is not null
)

select * from final
