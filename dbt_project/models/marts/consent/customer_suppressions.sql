-- Global suppressions per profile and channel with their reason: unsubscribe,
-- bounce, spam_report, stop, erasure, invalid. Unsubscribe and STOP are lifted by a
-- later explicit consent grant; bounces, spam reports, erasure and invalid
-- addresses are not. One row per (profile, channel, reason), the latest occurrence.
with events as (
    select
        event_id,
        profile_id,
        source,
        event_type,
        lower(channel) as channel,
        occurred_at,
        lower(coalesce(
            {{ json_text('attributes_json', 'action') }},
            {{ json_text('attributes_json', 'status') }}
        )) as action
    from {{ ref('customer_events') }}
    where occurred_at <= {{ audiences_as_of() }}
),

consent as (
    select
        profile_id,
        channel,
        is_consented,
        consent_changed_at
    from {{ ref('customer_consent') }}
),

engagement as (
    select
        profile_id,
        'email' as channel,
        'unsubscribe' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('unsubscribe') }}
    union all
    select
        profile_id,
        'email' as channel,
        'unsubscribe' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('consent') }}
        and channel = 'email'
        and action in ('unsubscribed', 'unsubscribe')
    union all
    select
        profile_id,
        'sms' as channel,
        'stop' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('consent') }}
        and action in ('stop_reply', 'stop')
    union all
    select
        profile_id,
        'email' as channel,
        'bounce' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('bounce') }}
    union all
    -- mailbox-provider blocks suppress like bounces; addresses the ESP calls invalid are invalid
    select
        profile_id,
        'email' as channel,
        'bounce' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('email_block', ['email_blocked']) }}
    union all
    select
        profile_id,
        'email' as channel,
        'invalid' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('email_invalid', ['email_invalid']) }}
    union all
    select
        profile_id,
        'email' as channel,
        'spam_report' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('spam_report') }}
    union all
    select
        profile_id,
        'sms' as channel,
        'stop' as reason,
        source,
        occurred_at
    from events
    where event_type in {{ event_types_for('stop') }}
),

latest_engagement as (
    select
        profile_id,
        channel,
        reason,
        max(occurred_at) as suppressed_at,
        max(source) as suppression_source
    from engagement
    group by profile_id, channel, reason
),

still_standing as (
    -- an unsubscribe/STOP followed by a fresh grant no longer suppresses
    select latest_engagement.*
    from latest_engagement
    left join consent
        on consent.profile_id = latest_engagement.profile_id
        and consent.channel = latest_engagement.channel
    where latest_engagement.reason not in ('unsubscribe', 'stop')
        or not (
            coalesce(consent.is_consented, false)
            and consent.consent_changed_at > latest_engagement.suppressed_at
        )
),

invalid_contacts as (
    select
        profile_id,
        'email' as channel,
        'invalid' as reason,
        cast(null as {{ dbt.type_timestamp() }}) as suppressed_at,
        'profile' as suppression_source
    from {{ ref('customer_profiles') }}
    where email is not null and not coalesce(email_is_valid, false)
    union all
    select
        profile_id,
        'sms' as channel,
        'invalid' as reason,
        cast(null as {{ dbt.type_timestamp() }}) as suppressed_at,
        'profile' as suppression_source
    from {{ ref('customer_profiles') }}
    where phone is not null and not coalesce(phone_is_valid, false)
),

erasures as (
    select
        erased.profile_id,
        channels.channel,
        'erasure' as reason,
        erased.erased_at as suppressed_at,
        erased.erasure_source as suppression_source
    from {{ ref('erased_profiles') }} as erased
    cross join (
        select 'email' as channel
        union all
        select 'sms' as channel
        union all
        select 'ads' as channel
    ) as channels
),

combined as (
    select * from still_standing
    union all
    select * from invalid_contacts
    union all
    select * from erasures
),

deduplicated as (
    -- the same reason can come from an event and from the profile (invalid address)
    select
        profile_id,
        channel,
        reason,
        max(suppressed_at) as suppressed_at,
        max(suppression_source) as suppression_source
    from combined
    group by profile_id, channel, reason
),

final as (
    select
        {{ dbt.concat(['profile_id', "':'", 'channel', "':'", 'reason']) }} as suppression_key,
        profile_id,
        channel,
        reason,
        suppressed_at,
        suppression_source
    from deduplicated
)

select * from final
