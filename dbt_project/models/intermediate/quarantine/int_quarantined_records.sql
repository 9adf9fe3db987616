{#- Raw records that identity resolution and the timeline could not use, one row
    per (record, reason): a missing key, an older copy of a duplicated key, no
    usable (valid) identifier at all, a missing timestamp, or a source's own rule
    (registry `quarantine`: an order line whose order is missing). Sources: the
    source registry (var ferry_sources). Invalid single values (a bad email on a good record) are
    not here: they are flagged in staging and int_identifiers. -#}

with

all_rows as (

    {{- ferry_all_source_rows() }}

),

valid_identifiers as (

    select distinct
        source,
        source_record_id
    from {{ ref('int_identifiers') }}
    where is_valid

),

missing_key as (

    select
        source,
        source_record_id,
        loader_id,
        'missing_key' as reason,
        'the source record has no primary key' as detail,
        loaded_at
    from all_rows
    where source_record_id is null

),

duplicate_key as (

    select
        source,
        source_record_id,
        loader_id,
        'duplicate_key' as reason,
        'an older copy of a key loaded more than once; the latest copy is used' as detail,
        loaded_at
    from all_rows
    where source_record_id is not null
        and not is_latest_copy

),

missing_timestamp as (

    select
        source,
        source_record_id,
        loader_id,
        'missing_timestamp' as reason,
        'the record time is missing or unparseable' as detail,
        loaded_at
    from all_rows
    where source_record_id is not null
        and is_latest_copy
        and record_at is null

),

no_usable_identifier as (

    select
        all_rows.source,
        all_rows.source_record_id,
        all_rows.loader_id,
        'no_usable_identifier' as reason,
        'no valid customer id, email, phone or anonymous id: cannot be linked to a person' as detail,
        all_rows.loaded_at
    from all_rows
    left join valid_identifiers
        on all_rows.source = valid_identifiers.source
        and all_rows.source_record_id = valid_identifiers.source_record_id
    where all_rows.source_record_id is not null
        and all_rows.is_latest_copy
        and valid_identifiers.source_record_id is null

),

source_rules as (

    {{ ferry_source_quarantine_rules() }}

),

unioned as (

    select * from missing_key
    union all
    select * from duplicate_key
    union all
    select * from missing_timestamp
    union all
    select * from no_usable_identifier
    union all
    select * from source_rules

),

final as (

    select
        {{ dbt.hash(dbt.concat(['source', "'|'", 'loader_id', "'|'", 'reason'])) }} as quarantine_id,
        source,
        source_record_id,
        loader_id,
        reason,
        detail,
        loaded_at
    from unioned

)

select * from final
