{#- One row per usable source record that describes a person (name, contact
    details, address, company...): the input of survivorship (golden record)
    and of fuzzy matching. Emails/phones are normalised; invalid ones are kept
    with their flags so the golden record can prefer valid values. Columns: var
    ferry_person_attributes; sources: those with `person` in the source registry. -#}

with

{{ ferry_person_records_ctes() }},

final as (

    select
        {{ dbt.concat(['source', "'|'", 'source_record_id']) }} as person_record_id,
        {{ dbt.split_part('source', "'_'", 1) }} as source_system,
        unioned.*
    from unioned

)

select * from final
