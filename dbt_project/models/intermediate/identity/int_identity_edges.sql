{#- The identity graph: record node -- identifier node, for every kept link
    (linkable, shared by two or more records, not a hub). Records and identifiers
    form a bipartite graph, so a shared identifier costs one edge per record
    instead of one per pair of records. -#}
with screened as (
    select * from {{ ref('int_identifiers_screened') }}
),

limits as (
    select * from {{ ref('int_identifier_link_limits') }}
),

records as (
    select * from {{ ref('int_identity_records') }}
),

kept as (
    select distinct
        screened.record_key,
        screened.identifier_node,
        screened.identifier_type
    from screened
    inner join limits on limits.identifier_node = screened.identifier_node
    where screened.is_linkable
        and limits.is_kept
),

final as (
    select
        records.record_node,
        kept.identifier_node,
        kept.record_key,
        kept.identifier_type
    from kept
    inner join records on records.record_key = kept.record_key
)

select * from final
