{#- Email deliverability per recipient domain: messages, delivered, bounced (hard),
    blocked, dropped, deferred, spam reports and opens, with rates over messages
    processed. Where a domain's bounce or block rate stands out, look at list hygiene
    or the sender's reputation with that mailbox provider. -#}

with

events as (

    select * from {{ ref('stg_sendgrid__events') }}
    where email_domain is not null

),

per_message as (

    select
        email_domain,
        sg_message_id,
        max(case when event_type = 'email_delivered' then 1 else 0 end) as delivered,
        max(case when event_type = 'email_bounce' then 1 else 0 end) as bounced,
        max(case when event_type = 'email_blocked' then 1 else 0 end) as blocked,
        max(case when event_type = 'email_dropped' then 1 else 0 end) as dropped,
        max(case when event_type = 'email_deferred' then 1 else 0 end) as deferred,
        max(case when event_type = 'email_spam_report' then 1 else 0 end) as complained,
        max(case when event_type in ('email_open', 'email_click') then 1 else 0 end) as opened
    from events
    where sg_message_id is not null
    group by email_domain, sg_message_id

),

per_domain as (

    select
        email_domain,
        count(*) as messages,
        sum(delivered) as delivered,
        sum(bounced) as bounced,
        sum(blocked) as blocked,
        sum(dropped) as dropped,
        sum(deferred) as deferred,
        sum(complained) as spam_reports,
        sum(opened) as opened
    from per_message
    group by email_domain

),

final as (

    select
        email_domain,
        messages,
        delivered,
        bounced,
        blocked,
        dropped,
        deferred,
        spam_reports,
        opened,
        cast(delivered as {{ dbt.type_float() }}) / nullif(messages, 0) as delivery_rate,
        cast(bounced + blocked as {{ dbt.type_float() }}) / nullif(messages, 0) as bounce_rate,
        cast(dropped as {{ dbt.type_float() }}) / nullif(messages, 0) as drop_rate,
        cast(spam_reports as {{ dbt.type_float() }}) / nullif(delivered, 0) as spam_report_rate,
        cast(opened as {{ dbt.type_float() }}) / nullif(delivered, 0) as open_rate
    from per_domain

)

select * from final
