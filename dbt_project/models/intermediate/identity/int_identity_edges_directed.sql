{#- Both directions of every identity edge, on the integer node numbers of
    int_identity_nodes: the adjacency list the label rounds join on.
    node_is_record tells round 0 which end is the record. -#}
with edges as (
    select * from {{ ref('int_identity_edges') }}
),

nodes as (
    select * from {{ ref('int_identity_nodes') }}
),

numbered as (
    select
        record_nodes.node_number as record_number,
        identifier_nodes.node_number as identifier_number
    from edges
    inner join nodes as record_nodes on record_nodes.node_id = edges.record_node
    inner join nodes as identifier_nodes on identifier_nodes.node_id = edges.identifier_node
),

directed as (
    select
        record_number as node_id,
        identifier_number as neighbour_id,
        true as node_is_record
    from numbered
    union all
    select
        identifier_number as node_id,
        record_number as neighbour_id,
        false as node_is_record
    from numbered
),

final as (
    select
        node_id,
        neighbour_id,
        node_is_record
    from directed
)

select * from final
