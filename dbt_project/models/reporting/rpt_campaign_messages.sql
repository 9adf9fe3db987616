{#- One row per message Ferry sent (email or SMS) with what became of it: delivered,
    opened, clicked, bounced, unsubscribed, complained; and its attribution (record key,
    idempotency key, sync, audience, variant) as it travelled in SendGrid custom_args or
    the Twilio StatusCallback URL; an SMS whose statuses came without it (pulled from
    the message list, or sent without a callback URL) takes it from the engine's send
    ledger (stg_ferry_sync__sends) by its message SID. The base of campaign reporting.
    An SMS STOP counts as the unsubscribe of the latest message to that phone within
    var('reporting_attribution_days', 7) days before it. -#}
{%- set attribution_days = var('reporting_attribution_days', 7) -%}

with

email_events as (

    select * from {{ ref('stg_sendgrid__events') }}

),

sms_statuses as (

    select * from {{ ref('stg_twilio__message_statuses') }}

),

sends as (

    select * from {{ ref('stg_ferry_sync__sends') }}

),

sms_opt_outs as (

    select * from {{ ref('stg_twilio__opt_outs') }}
    where opted_out

),

email_messages as (

    select
        sg_message_id as message_key,
        'email' as channel,
        max(ferry_key) as record_key,
        max(ferry_idempotency_key) as idempotency_key,
        max(ferry_sync) as sync_name,
        max(ferry_audience) as audience_name,
        max(ferry_variant) as variant,
        max(email_domain) as recipient_domain,
        min(occurred_at) as sent_at,
        max(case when event_type = 'email_delivered' then 1 else 0 end) as is_delivered,
        max(case when event_type in ('email_open', 'email_click') then 1 else 0 end) as is_opened,
        max(case when event_type = 'email_click' then 1 else 0 end) as is_clicked,
        max(case when event_type in ('email_bounce', 'email_blocked', 'email_dropped') then 1 else 0 end) as is_bounced,
        max(case when event_type in ('email_unsubscribe', 'email_group_unsubscribe') then 1 else 0 end)
            as is_unsubscribed,
        max(case when event_type = 'email_spam_report' then 1 else 0 end) as is_complained
    from email_events
    where sg_message_id is not null
    group by sg_message_id

),

sms_statuses_by_message as (

    select
        message_sid as message_key,
        max(ferry_key) as record_key,
        max(ferry_idempotency_key) as idempotency_key,
        max(ferry_sync) as sync_name,
        max(ferry_audience) as audience_name,
        max(ferry_variant) as variant,
        max(phone) as phone,
        min(occurred_at) as sent_at,
        max(case when message_status in ('delivered', 'read') then 1 else 0 end) as is_delivered,
        max(case when message_status = 'read' then 1 else 0 end) as is_opened,
        max(case when message_status in ('undelivered', 'failed') then 1 else 0 end) as is_bounced
    from sms_statuses
    group by message_sid

),

-- the callback's attribution when it came with the statuses, else the send ledger's
sms_messages_base as (

    select
        statuses.message_key,
        'sms' as channel,
        coalesce(statuses.record_key, sends.record_key) as record_key,
        coalesce(statuses.idempotency_key, sends.idempotency_key) as idempotency_key,
        coalesce(statuses.sync_name, sends.sync_name) as sync_name,
        coalesce(statuses.audience_name, sends.audience_name) as audience_name,
        coalesce(statuses.variant, sends.variant) as variant,
        statuses.phone,
        statuses.sent_at,
        statuses.is_delivered,
        statuses.is_opened,
        statuses.is_bounced
    from sms_statuses_by_message as statuses
    left join sends
        on sends.destination_id = statuses.message_key

),

-- a STOP is charged to the latest message that reached the phone before it
stop_attribution as (

    select
        sms_opt_outs.opt_out_event_id,
        sms_messages_base.message_key,
        row_number() over (
            partition by sms_opt_outs.opt_out_event_id
            order by sms_messages_base.sent_at desc, sms_messages_base.message_key asc
        ) as latest_first
    from sms_opt_outs
    inner join sms_messages_base
        on sms_messages_base.phone = sms_opt_outs.phone
        and sms_messages_base.sent_at <= sms_opt_outs.occurred_at
        and sms_messages_base.sent_at >= {{ dbt.dateadd('day', -attribution_days, 'sms_opt_outs.occurred_at') }}

),

stopped_messages as (

    select distinct message_key
    from stop_attribution
    where latest_first = 1

),

sms_messages as (

    select
        sms_messages_base.message_key,
        sms_messages_base.channel,
        sms_messages_base.record_key,
        sms_messages_base.idempotency_key,
        sms_messages_base.sync_name,
        sms_messages_base.audience_name,
        sms_messages_base.variant,
        -- SMS "domain": the number's country calling code prefix, for the same breakdowns
        cast(null as {{ dbt.type_string() }}) as recipient_domain,
        sms_messages_base.sent_at,
        sms_messages_base.is_delivered,
        sms_messages_base.is_opened,
        0 as is_clicked,
        sms_messages_base.is_bounced,
        case when stopped_messages.message_key is not null then 1 else 0 end as is_unsubscribed,
        0 as is_complained
    from sms_messages_base
    left join stopped_messages
        on stopped_messages.message_key = sms_messages_base.message_key

),

unioned as (

    select * from email_messages
    union all
    select * from sms_messages

),

final as (

    select
        {{ dbt.concat(['channel', "':'", 'message_key']) }} as message_id,
        channel,
        message_key,
        record_key,
        idempotency_key,
        coalesce(sync_name, 'unattributed') as sync_name,
        coalesce(
            audience_name,
            case when sync_name is not null then {{ dbt.split_part('sync_name', "'__'", 1) }} end,
            'unattributed'
        ) as audience_name,
        coalesce(variant, 'all') as variant,
        recipient_domain,
        sent_at,
        is_delivered = 1 as is_delivered,
        is_opened = 1 as is_opened,
        is_clicked = 1 as is_clicked,
        is_bounced = 1 as is_bounced,
        is_unsubscribed = 1 as is_unsubscribed,
        is_complained = 1 as is_complained
    from unioned

)

select * from final
