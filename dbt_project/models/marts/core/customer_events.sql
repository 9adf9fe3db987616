{#- One timeline of every interaction (orders, page views, tickets, surveys,
    sign-ups, trial usage, consent changes...), each mapped to the profile of the
    record it belongs to. -#}
with events as (
    select * from {{ ref('int_events') }}
),

resolved as (
    select
        source,
        source_record_id,
        profile_id
    from {{ ref('int_profile_ids_resolved') }}
),

final as (
    select
        events.event_id,
        resolved.profile_id,
        events.source,
        events.source_record_id,
        events.event_type,
        events.channel,
        events.occurred_at,
        events.category,
        cast(events.amount as {{ dbt.type_numeric() }}) as amount,  -- the contract's type, whatever the sources give
        events.attributes_json
    from events
    left join resolved
        on resolved.source = events.source
        and resolved.source_record_id = events.source_record_id
)

{{ without_erased_profiles('final') }}
