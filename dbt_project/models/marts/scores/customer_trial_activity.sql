-- Trial activity per profile that started a trial or used the product: days
-- active, logins, distinct features used, last login and an inactive-for-N-days
-- flag (var trial_inactive_days). The feature name comes from the event's
-- category, else attributes_json.feature.
with trial_events as (
    select
        profile_id,
        event_type,
        occurred_at,
        coalesce(
            {{ json_text('attributes_json', 'feature') }},
            category
        ) as feature,
        case
            when event_type in {{ event_types_for('trial_start') }} then 'start'
            when event_type in {{ event_types_for('trial_login') }} then 'login'
            else 'feature'
        end as trial_role
    from {{ ref('customer_events') }}
    where (
            event_type in {{ event_types_for('trial_start') }}
            or event_type in {{ event_types_for('trial_login') }}
            or event_type in {{ event_types_for('trial_feature') }}
        )
        and occurred_at <= {{ audiences_as_of() }}
        and profile_id not in (select profile_id from {{ ref('erased_profiles') }})
),

per_profile as (
    select
        profile_id,
        min(case when trial_role = 'start' then occurred_at end) as trial_started_at,
        count(distinct case when trial_role <> 'start' then cast(occurred_at as date) end) as trial_days_active,
        sum(case when trial_role = 'login' then 1 else 0 end) as trial_logins,
        count(distinct case when trial_role = 'feature' then feature end) as trial_features_used,
        max(case when trial_role = 'login' then occurred_at end) as trial_last_login_at,
        max(case when trial_role <> 'start' then occurred_at end) as trial_last_active_at,
        min(occurred_at) as trial_first_seen_at
    from trial_events
    group by profile_id
),

final as (
    select
        profile_id,
        coalesce(trial_started_at, trial_first_seen_at) as trial_started_at,
        trial_days_active,
        trial_logins,
        trial_features_used,
        trial_last_login_at,
        trial_last_active_at,
        {{ dbt.datediff('coalesce(trial_last_active_at, trial_started_at, trial_first_seen_at)', audiences_as_of(), 'day') }} as trial_days_inactive,
        {{ dbt.datediff('coalesce(trial_last_active_at, trial_started_at, trial_first_seen_at)', audiences_as_of(), 'day') }}
            >= {{ var('trial_inactive_days', 3) | int }} as is_trial_inactive
    from per_profile
)

select * from final
