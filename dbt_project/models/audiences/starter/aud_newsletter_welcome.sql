-- Newsletter welcome: signed up in the last var newsletter_welcome_days (7) days;
-- one welcome message per sign-up (occurrence = subscribed_at).
with signups as (
    select
        profile_id,
        max(occurred_at) as subscribed_at
    from {{ ref('customer_events') }}
    where event_type in {{ event_types_for('newsletter_signup') }}
        and occurred_at <= {{ audiences_as_of() }}
        and occurred_at > {{ audiences_days_ago(var('newsletter_welcome_days', 7)) }}
    group by profile_id
),

eligible as (
    select signups.*
    from signups
    where {{ audience_eligible('email', 'signups.profile_id') }}
),

final as (
    select
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_newsletter_welcome') }} as variant,
        profiles.email,
        profiles.first_name,
        eligible.subscribed_at
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    where profiles.email is not null
)

select * from final
