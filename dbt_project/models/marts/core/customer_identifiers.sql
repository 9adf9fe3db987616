{#- Every (source, source_record_id) and every identifier it carries, mapped to
    its profile_id, with what identity resolution did with the identifier
    (link_status: linked, unshared, or the reason it was dropped). A broken
    e-mail address read as a known one (int_identifiers_screened) shows twice:
    as written (invalid_identifier) and as read, with repaired_from. A record that
    carries no identifier at all still appears once, with a null identifier. -#}
-- depends_on: {{ ref('int_profile_id_registry') }}
with screened as (
    select * from {{ ref('int_identifiers_screened') }}
),

limits as (
    select * from {{ ref('int_identifier_link_limits') }}
),

resolved as (
    select * from {{ ref('int_profile_ids_resolved') }}
),

identifier_rows as (
    select
        screened.identifier_occurrence_id as customer_identifier_id,
        screened.source,
        screened.source_record_id,
        screened.identifier_type,
        screened.identifier_value,
        resolved.profile_id,
        screened.is_linkable and coalesce(limits.is_kept, false) as is_linked,
        screened.screen_reason is null and screened.invalid_reason is null as is_valid,
        coalesce(screened.screen_reason, limits.link_status, 'unshared') as link_status,
        screened.repaired_from,
        screened.first_observed_at,
        screened.last_observed_at
    from screened
    inner join resolved on resolved.record_key = screened.record_key
    left join limits on limits.identifier_node = screened.identifier_node
),

records_without_identifiers as (
    select
        {{ dbt.hash(dbt.concat(['resolved.record_key', "'|'"])) }} as customer_identifier_id,
        resolved.source,
        resolved.source_record_id,
        cast(null as {{ dbt.type_string() }}) as identifier_type,
        cast(null as {{ dbt.type_string() }}) as identifier_value,
        resolved.profile_id,
        false as is_linked,
        false as is_valid,
        'no_identifier' as link_status,
        cast(null as {{ dbt.type_string() }}) as repaired_from,
        cast(null as {{ dbt.type_timestamp() }}) as first_observed_at,
        cast(null as {{ dbt.type_timestamp() }}) as last_observed_at
    from resolved
    left join (select distinct record_key from screened) as with_identifiers
        on with_identifiers.record_key = resolved.record_key
    where with_identifiers.record_key is null
),

final as (
    select * from identifier_rows
    union all
    select * from records_without_identifiers
)

{{ without_erased_profiles('final') }}
