-- Marketing pressure per profile and channel: the sum over recent outbound contacts
-- of (weight of the contact type) x 0.5^(age / half-life), with weights, half-life
-- and window from vars. contactable = consented, not suppressed and under the cap.
with channels as (
    select 'email' as channel
    union all
    select 'sms' as channel
    union all
    select 'ads' as channel
),

caps as (
    {%- set caps = var('pressure_caps', {}) %}
    select
        'email' as channel,
        cast({{ caps.get('email', 1000000) | float }} as {{ dbt.type_float() }}) as pressure_cap
    union all
    select
        'sms' as channel,
        cast({{ caps.get('sms', 1000000) | float }} as {{ dbt.type_float() }}) as pressure_cap
    union all
    select
        'ads' as channel,
        cast({{ caps.get('ads', 1000000) | float }} as {{ dbt.type_float() }}) as pressure_cap
),

contacts as (
    select
        profile_id,
        case
            when event_type like 'email%' then 'email'
            when event_type like 'sms%' then 'sms'
            when event_type like 'ad%' then 'ads'
            when lower(channel) in ('email', 'sms', 'ads') then lower(channel)
            else 'email'
        end as channel,
        occurred_at,
        {{ weight_case('event_type', 'pressure_weights') }} as contact_weight,
        {{ audiences_age_days('occurred_at') }} as age_days
    from {{ ref('customer_events') }}
    where event_type in (
            '{{ var('pressure_weights', {}).keys() | join("', '") }}'
        )
        and occurred_at <= {{ audiences_as_of() }}
        and occurred_at > {{ audiences_days_ago(var('pressure_window_days', 90)) }}
),

pressure as (
    select
        profile_id,
        channel,
        sum(contact_weight * {{ audiences_decay('age_days', var('pressure_half_life_days', 7)) }}) as pressure,
        sum(case when contact_weight > 0 then 1 else 0 end) as contacts_in_window,
        max(occurred_at) as last_contacted_at
    from contacts
    group by profile_id, channel
),

profiles as (
    select profile_id from {{ ref('customer_profiles') }}
),

suppressed as (
    select
        profile_id,
        channel,
        min(reason) as suppression_reason
    from {{ ref('customer_suppressions') }}
    group by profile_id, channel
),

final as (
    select
        {{ dbt.concat(['profiles.profile_id', "':'", 'channels.channel']) }} as pressure_key,
        profiles.profile_id,
        channels.channel,
        coalesce(pressure.pressure, 0.0) as pressure,
        coalesce(pressure.contacts_in_window, 0) as contacts_in_window,
        pressure.last_contacted_at,
        caps.pressure_cap,
        coalesce(pressure.pressure, 0.0) >= caps.pressure_cap as is_over_cap,
        coalesce(consent.is_consented, false) as is_consented,
        suppressed.suppression_reason,
        suppressed.profile_id is not null as is_suppressed,
        coalesce(consent.is_consented, false)
        and suppressed.profile_id is null
        and coalesce(pressure.pressure, 0.0) < caps.pressure_cap as is_contactable
    from profiles
    cross join channels
    inner join caps on caps.channel = channels.channel
    left join pressure
        on pressure.profile_id = profiles.profile_id
        and pressure.channel = channels.channel
    left join {{ ref('customer_consent') }} as consent
        on consent.profile_id = profiles.profile_id
        and consent.channel = channels.channel
    left join suppressed
        on suppressed.profile_id = profiles.profile_id
        and suppressed.channel = channels.channel
)

select * from final
