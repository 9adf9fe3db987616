-- Trial activity per profile that started a trial or used the product: days
-- active, logins, distinct features used, last login and an inactive-for-N-days
-- flag (var trial_inactive_days). The feature name comes from
-- attributes_json.feature, else the event's category. The plan and trial end
-- come from the product's person records: is_on_trial is true while the plan is
-- 'trial' (or unknown) and the trial has not ended.
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
),

product_accounts as (
    select
        identifiers.profile_id,
        lower(records.plan) as plan,
        records.trial_ends_at,
        row_number() over (
            partition by identifiers.profile_id
            order by
                case when records.plan is null then 1 else 0 end,
                records.source_updated_at desc, records.source_record_id asc
        ) as account_rank
    from {{ ref('int_person_records') }} as records
    inner join {{ ref('int_profile_ids_resolved') }} as identifiers
        on identifiers.source = records.source
        and identifiers.source_record_id = records.source_record_id
    where records.plan is not null or records.trial_ends_at is not null
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

inactivity as (
    select
        per_profile.*,
        {{ dbt.datediff('coalesce(trial_last_active_at, trial_started_at, trial_first_seen_at)', audiences_as_of(), 'day') }}
            as trial_days_inactive
    from per_profile
),

final as (
    select
        inactivity.profile_id,
        accounts.plan as product_plan,
        accounts.trial_ends_at,
        coalesce(accounts.plan, 'trial') = 'trial'
        and (accounts.trial_ends_at is null or accounts.trial_ends_at >= {{ audiences_as_of() }}) as is_on_trial,
        coalesce(inactivity.trial_started_at, inactivity.trial_first_seen_at) as trial_started_at,
        inactivity.trial_days_active,
        inactivity.trial_logins,
        inactivity.trial_features_used,
        inactivity.trial_last_login_at,
        inactivity.trial_last_active_at,
        inactivity.trial_days_inactive,
        inactivity.trial_days_inactive >= {{ var('trial_inactive_days', 3) | int }} as is_trial_inactive
    from inactivity
    left join product_accounts as accounts
        on accounts.profile_id = inactivity.profile_id
        and accounts.account_rank = 1
)

select * from final
