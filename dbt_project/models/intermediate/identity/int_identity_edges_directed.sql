{#- Both directions of every identity edge: the adjacency list the label rounds join on. -#}
with edges as (
    select
        record_node,
        identifier_node
    from {{ ref('int_identity_edges') }}
),

directed as (
    select
        record_node as node_id,
        identifier_node as neighbour_id
    from edges
    union all
    select
        identifier_node as node_id,
        record_node as neighbour_id
    from edges
),

final as (
    select
        node_id,
        neighbour_id
    from directed
)

select * from final
