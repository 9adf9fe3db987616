{#- Each record's connected component. The label rounds run on the integer node
    numbers of int_identity_nodes; the smallest label maps back to the smallest
    node id of the component (the numbering keeps the order), which is always a
    record node (record nodes sort before identifier nodes): the component's
    anchor record. Records without kept links are their own component. -#}
with records as (
    select * from {{ ref('int_identity_records') }}
),

nodes as (
    select
        node_id,
        node_number
    from {{ ref('int_identity_nodes') }}
),

labels as (
    select
        node_id as node_number,
        label
    from {{ identity_final_labels() }}
),

final as (
    select
        records.record_key,
        records.source,
        records.source_record_id,
        records.record_node,
        coalesce(anchors.node_id, records.record_node) as component_id
    from records
    left join nodes as record_nodes on record_nodes.node_id = records.record_node
    left join labels on labels.node_number = record_nodes.node_number
    left join nodes as anchors on anchors.node_number = labels.label
)

select * from final
