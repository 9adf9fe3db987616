{#- Every identifier seen on every usable source record, one row per
    (source, source_record_id, identifier_type, identifier_value).
    Customer ids are namespaced '<system>:<id>'. Invalid values are kept with
    is_valid = false and a reason (never used to link); missing values yield no row.
    Records without a key, or a duplicated key's older copies, are left to the
    quarantine model. The sources and their identifiers come from the source
    registry (var ferry_sources, macros/sources/unions.sql). -#}

with

{{ ferry_identifiers_ctes() }},

final as (

    select
        {{ dbt.hash(dbt.concat(['source', "'|'", 'source_record_id', "'|'", 'identifier_type', "'|'", 'identifier_value'])) }} as identifier_row_id,
        source,
        {{ dbt.split_part('source', "'_'", 1) }} as source_system,
        source_record_id,
        identifier_type,
        identifier_value,
        is_valid,
        invalid_reason,
        observed_at
    from unioned

)

select * from final
