{#- Campaign reporting per audience, sync, variant and channel: messages sent,
    delivered, opened, clicked, bounced, unsubscribed and complained, their rates, and
    the variant's conversion uplift versus the audience's holdout (rpt_audience_uplift). -#}

with

messages as (

    select * from {{ ref('rpt_campaign_messages') }}

),

uplift as (

    select * from {{ ref('rpt_audience_uplift') }}

),

counted as (

    select
        audience_name,
        sync_name,
        variant,
        channel,
        count(*) as sent,
        sum(case when is_delivered then 1 else 0 end) as delivered,
        sum(case when is_opened then 1 else 0 end) as opened,
        sum(case when is_clicked then 1 else 0 end) as clicked,
        sum(case when is_bounced then 1 else 0 end) as bounced,
        sum(case when is_unsubscribed then 1 else 0 end) as unsubscribed,
        sum(case when is_complained then 1 else 0 end) as complained,
        min(sent_at) as first_sent_at,
        max(sent_at) as last_sent_at
    from messages
    group by audience_name, sync_name, variant, channel

),

final as (

    select
        {{ dbt.concat([
            'counted.audience_name', "'|'", 'counted.sync_name', "'|'", 'counted.variant', "'|'", 'counted.channel',
        ]) }} as campaign_row_id,
        counted.audience_name,
        counted.sync_name,
        counted.variant,
        counted.channel,
        counted.sent,
        counted.delivered,
        counted.opened,
        counted.clicked,
        counted.bounced,
        counted.unsubscribed,
        counted.complained,
        cast(counted.delivered as {{ dbt.type_float() }}) / nullif(counted.sent, 0) as delivery_rate,
        cast(counted.opened as {{ dbt.type_float() }}) / nullif(counted.delivered, 0) as open_rate,
        cast(counted.clicked as {{ dbt.type_float() }}) / nullif(counted.delivered, 0) as click_rate,
        cast(counted.clicked as {{ dbt.type_float() }}) / nullif(counted.opened, 0) as click_to_open_rate,
        cast(counted.bounced as {{ dbt.type_float() }}) / nullif(counted.sent, 0) as bounce_rate,
        cast(counted.unsubscribed as {{ dbt.type_float() }}) / nullif(counted.delivered, 0) as unsubscribe_rate,
        cast(counted.complained as {{ dbt.type_float() }}) / nullif(counted.delivered, 0) as complaint_rate,
        uplift.members as variant_members,
        uplift.conversion_rate,
        uplift.holdout_conversion_rate,
        uplift.uplift as conversion_uplift,
        uplift.relative_uplift as relative_conversion_uplift,
        counted.first_sent_at,
        counted.last_sent_at
    from counted
    left join uplift
        on uplift.audience_name = counted.audience_name
        and uplift.variant = counted.variant

)

select * from final
