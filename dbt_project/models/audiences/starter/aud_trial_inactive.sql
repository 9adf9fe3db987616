-- Trial users without any product activity for var trial_inactive_days (3) days
-- and who have not bought. Send mode: one nudge per inactivity spell (occurrence
-- = the last activity they went quiet after).
with scores as (
    select * from {{ ref('customer_scores') }}
),

candidates as (
    select
        profile_id,
        trial_started_at,
        trial_last_login_at,
        trial_days_inactive,
        trial_logins,
        trial_features_used,
        coalesce(trial_last_login_at, trial_started_at) as inactive_since
    from scores
    where is_on_trial
        and is_trial_inactive
        and lifetime_orders = 0
),

eligible as (
    select candidates.*
    from candidates
    where {{ audience_eligible('email', 'candidates.profile_id') }}
),

final as (
    select
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_trial_inactive') }} as variant,
        profiles.email,
        profiles.first_name,
        eligible.trial_started_at,
        eligible.trial_last_login_at,
        eligible.inactive_since,
        eligible.trial_days_inactive,
        eligible.trial_logins,
        eligible.trial_features_used
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    where profiles.email is not null
)

select * from final
