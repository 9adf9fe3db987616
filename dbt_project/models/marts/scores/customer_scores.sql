-- Profile intelligence on every profile: RFM, behavioural score, main interest,
-- lifecycle stage and customer since, churn risk with its reason, target fit (ICP),
-- trial activity, preferred store / salesperson, birthday and loyalty.
-- Erased profiles never reach it: the core marts it reads leave them out.
with profiles as (
    select *
    from {{ ref('customer_profiles') }}
),

events as (
    select
        profile_id,
        event_type,
        occurred_at
    from {{ ref('customer_events') }}
    where occurred_at <= {{ audiences_as_of() }}
),

order_history as (
    select
        profile_id,
        min(occurred_at) as first_order_at,
        max(occurred_at) as last_order_at,
        count(*) as lifetime_orders
    from events
    where event_type in {{ event_types_for('order') }}
    group by profile_id
),

sales_signals as (
    select
        profile_id,
        count(*) as sales_signals
    from events
    where event_type in {{ event_types_for('sales_signal') }}
    group by profile_id
),

order_rhythm as (
    select
        profile_id,
        first_order_at,
        last_order_at,
        lifetime_orders,
        {{ dbt.datediff('last_order_at', audiences_as_of(), 'day') }} as days_since_last_order,
        case
            when lifetime_orders >= 2
                then {{ dbt.datediff('first_order_at', 'last_order_at', 'day') }} * 1.0 / (lifetime_orders - 1)
        end as usual_order_interval_days
    from order_history
),

churn as (
    select
        order_rhythm.*,
        days_since_last_order * 1.0 / greatest(
            coalesce(usual_order_interval_days, {{ var('churn_default_interval_days', 90) | float }}), 1.0
        ) as churn_ratio
    from order_rhythm
),

combined as (
    select
        profiles.profile_id,
        profiles.country,
        profiles.city,
        profiles.company,
        profiles.job_title,
        profiles.owner_name,
        profiles.owner_email,
        profiles.preferred_store,
        profiles.loyalty_status,
        profiles.loyalty_points,
        profiles.birth_date,
        profiles.first_touch_source,
        profiles.first_touch_channel,
        profiles.first_touch_utm_source,
        profiles.first_touch_utm_medium,
        profiles.first_touch_utm_campaign,
        profiles.first_touch_at,
        churn.first_order_at,
        churn.last_order_at,
        coalesce(churn.lifetime_orders, 0) as lifetime_orders,
        churn.days_since_last_order,
        churn.usual_order_interval_days,
        churn.churn_ratio,
        rfm.recency_days as rfm_recency_days,
        rfm.order_count as rfm_order_count,
        rfm.monetary as rfm_monetary_value,
        rfm.rfm_recency,
        rfm.rfm_frequency,
        rfm.rfm_monetary,
        rfm.rfm_score,
        rfm.rfm_segment,
        coalesce(behaviour.behavioural_score, 0) as behavioural_score,
        behaviour.email_engagements,
        behaviour.last_activity_at,
        interests.main_interest,
        interests.main_interest_score,
        trial.trial_started_at,
        trial.product_plan,
        trial.trial_ends_at,
        coalesce(trial.is_on_trial, false) as is_on_trial,
        trial.trial_days_active,
        trial.trial_logins,
        trial.trial_features_used,
        trial.trial_last_login_at,
        trial.trial_days_inactive,
        trial.is_trial_inactive,
        coalesce(sales_signals.sales_signals, 0) as sales_signals
    from profiles
    left join churn on churn.profile_id = profiles.profile_id
    left join {{ ref('customer_rfm') }} as rfm on rfm.profile_id = profiles.profile_id
    left join {{ ref('customer_behaviour') }} as behaviour on behaviour.profile_id = profiles.profile_id
    left join {{ ref('customer_interests') }} as interests on interests.profile_id = profiles.profile_id
    left join {{ ref('customer_trial_activity') }} as trial on trial.profile_id = profiles.profile_id
    left join sales_signals on sales_signals.profile_id = profiles.profile_id
),

birthdays as (
    select
        combined.*,
        cast({{ dbt.dateadd('year', 'extract(year from ' ~ audiences_as_of() ~ ') - extract(year from birth_date)', 'birth_date') }} as date) as birthday_this_year
    from combined
),

final as (
    select
        birthdays.*,
        cast(first_order_at as date) as customer_since,
        {{ dbt.datediff('first_order_at', audiences_as_of(), 'day') }} as customer_tenure_days,
        case
            when lifetime_orders > 0 and days_since_last_order > {{ var('churned_after_days', 365) | int }}
                then 'churned'
            when lifetime_orders > 0 and days_since_last_order > {{ var('lapsed_after_days', 180) | int }} then 'lapsed'
            when lifetime_orders >= 2 then 'repeat'
            when lifetime_orders = 1 then 'customer'
            when is_on_trial then 'trial'
            when owner_email is not null or sales_signals > 0 then 'prospect'
            else 'lead'
        end as lifecycle_stage,
        case
            when lifetime_orders = 0 then 'not_applicable'
            when churn_ratio >= {{ var('churn_high_ratio', 3.0) | float }} then 'high'
            when churn_ratio >= {{ var('churn_medium_ratio', 1.5) | float }} then 'medium'
            else 'low'
        end as churn_risk,
        case
            when lifetime_orders = 0 then 'never ordered'
            when lifetime_orders = 1 then {{ dbt.concat([
                "'single order '", dbt.safe_cast('days_since_last_order', dbt.type_string()),
                "' days ago; default interval '", "'" ~ (var('churn_default_interval_days', 90) | int) ~ "'",
                "' days ('", dbt.safe_cast(audiences_round('churn_ratio', 1), dbt.type_string()), "'x)'"]) }}
            else {{ dbt.concat([
                "'no order for '", dbt.safe_cast('days_since_last_order', dbt.type_string()),
                "' days, usually every '", dbt.safe_cast(audiences_round('usual_order_interval_days', 0), dbt.type_string()),
                "' days ('", dbt.safe_cast(audiences_round('churn_ratio', 1), dbt.type_string()), "'x)'"]) }}
        end as churn_reason,
        case
            when birth_date is null then null
            when birthday_this_year < cast({{ audiences_as_of() }} as date)
                then cast({{ dbt.dateadd('year', 1, 'birthday_this_year') }} as date)
            else birthday_this_year
        end as next_birthday,
        {{ icp_matched_count() }} as icp_rules_matched,
        {{ var('icp_rules', []) | length }} as icp_rules_total,
        {%- if var('icp_rules', []) | length > 0 %}
        {{ icp_matched_count() }} = {{ var('icp_rules', []) | length }} as is_target_fit
        {%- else %}
        false as is_target_fit
        {%- endif %}
    from birthdays
)

select
    final.*,
    {{ dbt.datediff(dbt.safe_cast(audiences_as_of(), 'date'), 'next_birthday', 'day') }} as days_until_birthday
from final
