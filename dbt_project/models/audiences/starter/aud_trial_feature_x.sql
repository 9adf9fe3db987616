-- Trial users who used feature X (var trial_feature_x): send them an explanation
-- of what else it can do, once (occurrence = first use).
with feature_uses as (
    select
        profile_id,
        lower(coalesce({{ json_text('attributes_json', 'feature') }}, category)) as feature,
        occurred_at
    from {{ ref('customer_events') }}
    where event_type in {{ event_types_for('trial_feature') }}
        and occurred_at <= {{ audiences_as_of() }}
),

candidates as (
    select
        profile_id,
        min(occurred_at) as first_used_at,
        count(*) as feature_uses
    from feature_uses
    where feature = '{{ var("trial_feature_x", "reports") | lower }}'
    group by profile_id
),

eligible as (
    select candidates.*
    from candidates
    where candidates.profile_id in (
            select scores.profile_id from {{ ref('customer_scores') }} as scores
            where scores.is_on_trial
        )
        and {{ audience_eligible('email', 'candidates.profile_id') }}
),

final as (
    select
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_trial_feature_x') }} as variant,
        profiles.email,
        profiles.first_name,
        '{{ var("trial_feature_x", "reports") | lower }}' as feature,
        eligible.first_used_at,
        eligible.feature_uses
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    where profiles.email is not null
)

select * from final
