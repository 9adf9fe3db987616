{#- Audit: every identifier occurrence that was not allowed to link, with the
    reason (missing_value, unknown_identifier_type, invalid_identifier,
    blocked_value, blocked_pattern, max_customer_ids_exceeded,
    higher_priority_conflict, conflicting_first_names), how many records share
    the value, and for limit
    drops the counts that hit the limit. Identifiers carried by a single record
    ('unshared') link nothing and are not listed. -#}
with screened as (
    select * from {{ ref('int_identifiers_screened') }}
),

limits as (
    select * from {{ ref('int_identifier_link_limits') }}
),

resolved as (
    select * from {{ ref('int_profile_ids_resolved') }}
),

value_sharing as (
    select
        identifier_node,
        count(distinct record_key) as records_sharing_value
    from screened
    group by identifier_node
),

dropped as (
    select
        screened.identifier_occurrence_id,
        screened.source,
        screened.source_record_id,
        screened.identifier_type,
        screened.identifier_value,
        coalesce(screened.screen_reason, limits.link_status) as drop_reason,
        screened.invalid_reason,
        value_sharing.records_sharing_value,
        limits.direct_max_customer_ids,
        limits.reached_max_customer_ids,
        limits.max_customer_ids,
        screened.type_rank
    from screened
    left join limits on limits.identifier_node = screened.identifier_node
    inner join value_sharing on value_sharing.identifier_node = screened.identifier_node
    where screened.screen_reason is not null
        or not limits.is_kept
),

final as (
    select
        dropped.*,
        resolved.profile_id
    from dropped
    inner join resolved
        on resolved.source = dropped.source
        and resolved.source_record_id = dropped.source_record_id
)

-- The audit lists identifier values: an erased person's are not kept here either.
{{ without_erased_profiles('final') }}
