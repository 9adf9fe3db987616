{#- Every source record that takes part in identity resolution: the record nodes
    of the graph. Node ids are '0' || md5(record key) so that, in every engine and
    collation, a component's smallest label is one of its records (identifier
    nodes start with '1') and that record is a stable, hashed anchor. -#}
with identifier_records as (
    select
        source,
        source_record_id
    from {{ ref('int_identifiers') }}
),

person_records as (
    select
        source,
        source_record_id
    from {{ ref('int_person_records') }}
),

all_records as (
    select
        source,
        source_record_id
    from identifier_records
    union
    select
        source,
        source_record_id
    from person_records
),

keyed as (
    select
        source,
        source_record_id,
        {{ dbt.concat(['source', "'|'", 'source_record_id']) }} as record_key
    from all_records
    where source is not null
        and source_record_id is not null
),

final as (
    select
        record_key,
        source,
        source_record_id,
        {{ dbt.concat(["'0'", dbt.hash('record_key')]) }} as record_node
    from keyed
)

select * from final
