{#- Every node of the identity graph (records and identifiers) numbered densely
    in the order of its string id: the label rounds join and group on these
    integers instead of 33-character md5 strings. The numbering preserves the
    order, so the smallest number of a component is its smallest string id and
    the components (hence the profile ids) are the same as labelling the strings.
    Record nodes ('0...') sort before identifier nodes ('1...'), so every record
    number is smaller than every identifier number. -#}
with edges as (
    select
        record_node,
        identifier_node
    from {{ ref('int_identity_edges') }}
),

nodes as (
    select record_node as node_id from edges
    union
    select identifier_node as node_id from edges
),

final as (
    select
        node_id,
        dense_rank() over (order by node_id) as node_number
    from nodes
)

select * from final
