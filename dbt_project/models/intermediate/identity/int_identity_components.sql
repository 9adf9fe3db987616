{#- Each record's connected component. The component id is the smallest label,
    which is always a record node (record nodes sort before identifier nodes):
    the component's anchor record. Records without kept links are their own
    component. -#}
with records as (
    select * from {{ ref('int_identity_records') }}
),

labels as (
    select
        node_id,
        label
    from {{ identity_final_labels() }}
),

final as (
    select
        records.record_key,
        records.source,
        records.source_record_id,
        records.record_node,
        coalesce(labels.label, records.record_node) as component_id
    from records
    left join labels on labels.node_id = records.record_node
)

select * from final
