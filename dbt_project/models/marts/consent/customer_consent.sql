-- Current consent per profile and channel (email, sms, ads): the latest consent
-- event wins; on a tie a revocation beats a grant. Newsletter sign-ups grant email
-- consent, unsubscribes and STOP replies revoke it. No event = not consented
-- (opt-in by default). Erased profiles are left out.
with channels as (
    select 'email' as channel
    union all
    select 'sms' as channel
    union all
    select 'ads' as channel
),

profiles as (
    select profile_id from {{ ref('customer_profiles') }}
),

events as (
    select
        event_id,
        profile_id,
        source,
        event_type,
        lower(channel) as channel,
        occurred_at,
        lower(coalesce(
            {{ json_text('attributes_json', 'status') }},
            {{ json_text('attributes_json', 'consent') }},
            {{ json_text('attributes_json', 'consent_status') }},
            {{ json_text('attributes_json', 'action') }},
            {{ json_text('attributes_json', 'is_consented') }},
            {{ json_text('attributes_json', 'granted') }}
        )) as status_text,
        lower({{ json_text('attributes_json', 'consent_email') }}) as email_checkbox,
        lower({{ json_text('attributes_json', 'consent_sms') }}) as sms_checkbox
    from {{ ref('customer_events') }}
    where occurred_at <= {{ audiences_as_of() }}
),

shop_marketing_flags as (
    -- a person record's own marketing opt-in (e.g. the shop's accepts_marketing box)
    select distinct
        identifiers.profile_id,
        {{ dbt.concat(['records.source', "':'", 'records.source_record_id']) }} as event_id,
        records.source,
        coalesce(records.source_updated_at, records.source_created_at) as occurred_at,
        records.accepts_marketing as is_consented
    from {{ ref('int_person_records') }} as records
    inner join {{ ref('customer_identifiers') }} as identifiers
        on identifiers.source = records.source
        and identifiers.source_record_id = records.source_record_id
    where records.accepts_marketing is not null
        and identifiers.profile_id is not null
        and coalesce(records.source_updated_at, records.source_created_at) <= {{ audiences_as_of() }}
),

consent_changes as (
    select
        event_id,
        profile_id,
        source,
        case
            when channel in ('text', 'phone', 'mobile') then 'sms'
            when channel in ('advertising', 'ad', 'paid_social', 'meta', 'google_ads') then 'ads'
            else channel
        end as channel,
        occurred_at,
        case
            when event_type like '%revoke%' or event_type like '%withdraw%' then false
            when event_type like '%grant%' then true
            else status_text in (
                    'granted', 'grant', 'true', 'yes', '1', 'opt_in', 'opted_in', 'optin', 'subscribed', 'subscribe'
                )
        end as is_consented
    from events
    where event_type in {{ event_types_for('consent') }}

    union all

    select
        event_id,
        profile_id,
        source,
        'email' as channel,
        occurred_at,
        true as is_consented
    from events
    where event_type in {{ event_types_for('newsletter_signup') }}

    union all

    -- forms with an explicit opt-in checkbox (consent_email / consent_sms = true)
    select
        event_id,
        profile_id,
        source,
        'email' as channel,
        occurred_at,
        true as is_consented
    from events
    where email_checkbox in ('true', '1', 'yes')
    union all
    select
        event_id,
        profile_id,
        source,
        'sms' as channel,
        occurred_at,
        true as is_consented
    from events
    where sms_checkbox in ('true', '1', 'yes')

    union all

    select
        event_id,
        profile_id,
        source,
        'email' as channel,
        occurred_at,
        false as is_consented
    from events
    where event_type in {{ event_types_for('unsubscribe') }}

    union all

    select
        event_id,
        profile_id,
        source,
        'sms' as channel,
        occurred_at,
        false as is_consented
    from events
    where event_type in {{ event_types_for('stop') }}

    union all

    -- START / UNSTOP replies re-subscribe to SMS
    select
        event_id,
        profile_id,
        source,
        'sms' as channel,
        occurred_at,
        true as is_consented
    from events
    where event_type in {{ event_types_for('sms_resubscribe', ['sms_start', 'sms_unstop']) }}

    union all

    select
        event_id,
        profile_id,
        source,
        'email' as channel,
        occurred_at,
        is_consented
    from shop_marketing_flags
),

ranked as (
    select
        consent_changes.*,
        row_number() over (
            partition by profile_id, channel
            order by occurred_at desc, case when is_consented then 1 else 0 end asc, event_id desc
        ) as change_rank
    from consent_changes
    where channel in ('email', 'sms', 'ads')
),

latest as (
    select * from ranked
    where change_rank = 1
),

final as (
    select
        {{ dbt.concat(['profiles.profile_id', "':'", 'channels.channel']) }} as consent_key,
        profiles.profile_id,
        channels.channel,
        coalesce(latest.is_consented, false) as is_consented,
        latest.source as consent_source,
        latest.occurred_at as consent_changed_at,
        latest.event_id as consent_event_id
    from profiles
    cross join channels
    left join latest
        on latest.profile_id = profiles.profile_id
        and latest.channel = channels.channel
)

select * from final
