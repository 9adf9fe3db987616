{#- The identity graph: record node -- identifier node, for every kept link
    (linkable, shared by two or more records, not a hub). Records and identifiers
    form a bipartite graph, so a shared identifier costs one edge per record
    instead of one per pair of records. Probabilistic (Splink) links join the same
    graph: each merged fuzzy pair becomes one pseudo-identifier node linked to both
    records, so fuzzy evidence flows through the same components and stable-id
    rules (int_fuzzy_edges already refuses pairs that deterministic evidence
    contradicts, such as two customer ids of one system). -#}
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

fuzzy as (
    select * from {{ ref('int_fuzzy_edges') }}
),

fuzzy_sides as (
    select
        fuzzy_pair_id,
        {{ dbt.concat(['source_a', "'|'", 'source_record_id_a']) }} as record_key
    from fuzzy
    union all
    select
        fuzzy_pair_id,
        {{ dbt.concat(['source_b', "'|'", 'source_record_id_b']) }} as record_key
    from fuzzy
),

fuzzy_links as (
    select
        records.record_node,
        {{ dbt.concat(["'1'", dbt.hash(dbt.concat(["'fuzzy|'", 'fuzzy_sides.fuzzy_pair_id']))]) }} as identifier_node,
        fuzzy_sides.record_key,
        'fuzzy' as identifier_type
    from fuzzy_sides
    inner join records on records.record_key = fuzzy_sides.record_key
),

final as (
    select
        records.record_node,
        kept.identifier_node,
        kept.record_key,
        kept.identifier_type
    from kept
    inner join records on records.record_key = kept.record_key
    union all
    select
        record_node,
        identifier_node,
        record_key,
        identifier_type
    from fuzzy_links
)

select * from final
