-- Tombstones: one row per profile whose owner asked to be erased. Read from the
-- intermediate events and identity's record -> profile_id resolution (not from
-- customer_events, customer_identifiers or customer_profiles) so that every PII
-- mart can itself exclude this model without a cycle. Every audience and score
-- mart anti-joins it.
with erasure_requests as (
    select
        events.event_id,
        events.source,
        events.source_record_id,
        events.occurred_at
    from {{ ref('int_events') }} as events
    where events.event_type in {{ event_types_for('erasure') }}
),

resolved as (
    select
        identifiers.profile_id,
        erasure_requests.event_id,
        erasure_requests.source,
        erasure_requests.occurred_at
    from erasure_requests
    inner join {{ ref('int_profile_ids_resolved') }} as identifiers
        on identifiers.source = erasure_requests.source
        and identifiers.source_record_id = erasure_requests.source_record_id
    where identifiers.profile_id is not null
),

ranked as (
    select
        resolved.*,
        row_number() over (
            partition by resolved.profile_id
            order by resolved.occurred_at asc, resolved.event_id asc
        ) as request_rank,
        count(*) over (partition by resolved.profile_id) as request_count
    from resolved
),

final as (
    select
        profile_id,
        occurred_at as erased_at,
        source as erasure_source,
        event_id as erasure_event_id,
        request_count
    from ranked
    where request_rank = 1
)

select * from final
