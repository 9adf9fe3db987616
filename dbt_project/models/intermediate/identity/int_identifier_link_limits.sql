{#- One row per linkable identifier shared by two or more records, with the
    verdict on whether its links are used.

    A shared identifier carrying more distinct customer ids of one system than
    identity_max_customer_ids allows for its type is a hub (a household phone, a
    family email, a shared device) and none of its links are used. Record ids
    (a namespace of kind record_id in the source registry: CRM contacts, rows
    that may duplicate each other) are held to identity_max_record_ids instead
    (macro identity_customer_id_limit): a contact imported twice shares its
    e-mail and phone with the first row.

    Priority (identity_type_priority): types are judged strongest first, and a
    weaker identifier is judged against the customer ids its records already reach
    through kept stronger links (one hop), not only their own. So an email joining
    two shop accounts is kept while the phone that would additionally pull in a
    third account is the link that is dropped ('higher_priority_conflict').

    Household guard: an identifier of a type listed in
    identity_first_name_checked_types (default: phone) whose records carry first
    names with different initials is dropped ('conflicting_first_names'). -#}
{%- set priority = identity_setting('identity_type_priority') -%}
{%- set name_checked = identity_setting('identity_first_name_checked_types') -%}

with screened as (
    select * from {{ ref('int_identifiers_screened') }}
),

linkable as (
    select distinct
        record_key,
        identifier_node,
        identifier_type,
        type_rank
    from screened
    where is_linkable
),

shared as (
    select
        identifier_node,
        identifier_type,
        type_rank,
        count(*) as record_count
    from linkable
    group by identifier_node, identifier_type, type_rank
    having count(*) > 1
),

occurrences as (
    select
        linkable.record_key,
        linkable.identifier_node,
        linkable.type_rank
    from linkable
    inner join shared on shared.identifier_node = linkable.identifier_node
),

record_customer_ids as (
    select distinct
        record_key,
        coalesce(customer_system, '') as customer_system,
        identifier_value as customer_id
    from screened
    where is_linkable
        and identifier_type = 'customer_id'
),

identifier_customer_ids as (
    select distinct
        occurrences.identifier_node,
        record_customer_ids.customer_system,
        record_customer_ids.customer_id
    from occurrences
    inner join record_customer_ids on record_customer_ids.record_key = occurrences.record_key
),

-- household guard: a weak identifier (identity_first_name_checked_types) carried by
-- records whose first names start with different letters links two people (the
-- landline of a couple in two systems), not one; nicknames and typos keep their initial
first_name_initials as (
    select
        occurrences.identifier_node,
        count(distinct lower(substr(trim(person_records.first_name), 1, 1))) as first_name_initials
    from occurrences
    inner join shared on shared.identifier_node = occurrences.identifier_node
    inner join {{ ref('int_person_records') }} as person_records
        on {{ dbt.concat(['person_records.source', "'|'", 'person_records.source_record_id']) }} = occurrences.record_key
    where shared.identifier_type in ({{ identity_literal_list(name_checked) }})
        and trim(person_records.first_name) <> ''
    group by occurrences.identifier_node
),

name_conflicts as (
    select identifier_node from first_name_initials
    where first_name_initials > 1
),

{# per identifier and system: how many ids, and whether that is over the limit
    (identity_customer_id_limit: record-id systems such as the CRM get their own) -#}
direct_counts as (
    select
        identifier_node,
        max(customer_id_count) as direct_max_customer_ids,
        {{ dbt.bool_or('is_over_limit') }} as is_direct_over_limit
    from (
        select
            identifier_customer_ids.identifier_node,
            identifier_customer_ids.customer_system,
            count(*) as customer_id_count,
            count(*) > {{ identity_customer_id_limit('shared.identifier_type', 'identifier_customer_ids.customer_system') }}
                as is_over_limit
        from identifier_customer_ids
        inner join shared on shared.identifier_node = identifier_customer_ids.identifier_node
        group by
            identifier_customer_ids.identifier_node,
            identifier_customer_ids.customer_system,
            shared.identifier_type
    ) as per_system
    group by identifier_node
),

{% for identifier_type in priority %}
{%- set rank = loop.index %}
{%- set reached_limit = identity_customer_id_limit('shared.identifier_type', 'reached_' ~ rank ~ '.customer_system') %}
-- rank {{ rank }}: {{ identifier_type }}, judged against ids reached through kept links of ranks < {{ rank }}
reached_{{ rank }} as (
    select
        record_key,
        customer_system,
        customer_id
    from record_customer_ids
    {%- for lower in range(1, rank) %}
    union
    select
        occurrences.record_key,
        identifier_customer_ids.customer_system,
        identifier_customer_ids.customer_id
    from occurrences
    inner join kept_{{ lower }} on kept_{{ lower }}.identifier_node = occurrences.identifier_node
    inner join identifier_customer_ids on identifier_customer_ids.identifier_node = occurrences.identifier_node
    {%- endfor %}
),

reached_counts_{{ rank }} as (
    select
        identifier_node,
        max(customer_id_count) as reached_max_customer_ids,
        {{ dbt.bool_or('is_over_limit') }} as is_reached_over_limit
    from (
        select
            occurrences.identifier_node,
            reached_{{ rank }}.customer_system,
            count(distinct reached_{{ rank }}.customer_id) as customer_id_count,
            count(distinct reached_{{ rank }}.customer_id) > {{ reached_limit }} as is_over_limit
        from occurrences
        inner join reached_{{ rank }} on reached_{{ rank }}.record_key = occurrences.record_key
        inner join shared on shared.identifier_node = occurrences.identifier_node
        where occurrences.type_rank = {{ rank }}
        group by occurrences.identifier_node, reached_{{ rank }}.customer_system, shared.identifier_type
    ) as per_system
    group by identifier_node
),

judged_{{ rank }} as (
    select
        shared.identifier_node,
        coalesce(reached_counts_{{ rank }}.reached_max_customer_ids, 0) as reached_max_customer_ids,
        coalesce(reached_counts_{{ rank }}.is_reached_over_limit, false) as is_reached_over_limit,
        (
            not coalesce(reached_counts_{{ rank }}.is_reached_over_limit, false)
            and name_conflicts.identifier_node is null
        ) as is_kept
    from shared
    left join reached_counts_{{ rank }} on reached_counts_{{ rank }}.identifier_node = shared.identifier_node
    left join name_conflicts on name_conflicts.identifier_node = shared.identifier_node
    where shared.type_rank = {{ rank }}
),

kept_{{ rank }} as (
    select identifier_node from judged_{{ rank }}
    where is_kept
),
{% endfor %}

judged as (
    {%- for identifier_type in priority %}
    select
        identifier_node,
        reached_max_customer_ids,
        is_reached_over_limit,
        is_kept
    from judged_{{ loop.index }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

final as (
    select
        shared.identifier_node,
        shared.identifier_type,
        shared.type_rank,
        shared.record_count,
        coalesce(direct_counts.direct_max_customer_ids, 0) as direct_max_customer_ids,
        coalesce(judged.reached_max_customer_ids, 0) as reached_max_customer_ids,
        {{ identity_max_customer_ids('shared.identifier_type') }} as max_customer_ids,
        coalesce(judged.is_kept, false) as is_kept,
        case
            when coalesce(judged.is_kept, false) then 'linked'
            when coalesce(direct_counts.is_direct_over_limit, false) then 'max_customer_ids_exceeded'
            when coalesce(judged.is_reached_over_limit, false) then 'higher_priority_conflict'
            else 'conflicting_first_names'
        end as link_status
    from shared
    left join direct_counts on direct_counts.identifier_node = shared.identifier_node
    left join judged on judged.identifier_node = shared.identifier_node
)

select * from final
