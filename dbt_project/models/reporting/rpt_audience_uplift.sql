{#- Conversion per audience and variant against the audience's holdout: the share of
    members who placed an order (var ferry_event_roles.order) within
    var('reporting_conversion_days', 14) days of entering the audience, and the
    uplift over the holdout variant (var('reporting_holdout_variant', 'holdout')).
    Holdout members receive nothing, so the difference is what the messages did. -#}
{%- set conversion_days = var('reporting_conversion_days', 14) -%}
{%- set holdout = var('reporting_holdout_variant', 'holdout') -%}

with

entries as (

    select
        audience,
        profile_id,
        variant,
        min(changed_at) as entered_at
    from {{ ref('audience_membership_history') }}
    where change_type = 'entered'
    group by audience, profile_id, variant

),

orders as (

    select
        profile_id,
        occurred_at
    from {{ ref('customer_events') }}
    where event_type in {{ event_types_for('order') }}
        and profile_id is not null

),

converted as (

    select distinct
        entries.audience,
        entries.profile_id,
        entries.variant
    from entries
    inner join orders
        on orders.profile_id = entries.profile_id
        and orders.occurred_at >= entries.entered_at
        and orders.occurred_at < {{ dbt.dateadd('day', conversion_days, 'entries.entered_at') }}

),

per_variant as (

    select
        entries.audience,
        entries.variant,
        count(distinct entries.profile_id) as members,
        count(distinct converted.profile_id) as converters
    from entries
    left join converted
        on converted.audience = entries.audience
        and converted.profile_id = entries.profile_id
        and converted.variant = entries.variant
    group by entries.audience, entries.variant

),

rated as (

    select
        *,
        cast(converters as {{ dbt.type_float() }}) / nullif(members, 0) as conversion_rate
    from per_variant

),

holdouts as (

    select
        audience,
        members as holdout_members,
        conversion_rate as holdout_conversion_rate
    from rated
    where variant = '{{ holdout }}'

),

final as (

    select
        {{ dbt.concat(['rated.audience', "'|'", 'rated.variant']) }} as audience_variant_id,
        rated.audience as audience_name,
        rated.variant,
        rated.variant = '{{ holdout }}' as is_holdout,
        rated.members,
        rated.converters,
        rated.conversion_rate,
        holdouts.holdout_members,
        holdouts.holdout_conversion_rate,
        rated.conversion_rate - holdouts.holdout_conversion_rate as uplift,
        (rated.conversion_rate - holdouts.holdout_conversion_rate)
        / nullif(holdouts.holdout_conversion_rate, 0) as relative_uplift
    from rated
    left join holdouts
        on holdouts.audience = rated.audience

)

select * from final
