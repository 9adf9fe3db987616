{#- The profile id of every record ever resolved: the memory that keeps ids
    stable and lets merges be detected. Incremental on record_key and exempt
    from --full-refresh (a rebuild would still read itself through
    int_profile_ids_resolved, but dropping it forgets merges); records that
    disappear from the sources keep their last row. -#}
{{
    config(
        materialized='incremental',
        unique_key='record_key',
        full_refresh=false,
    )
}}

with resolved as (
    select * from {{ ref('int_profile_ids_resolved') }}
),

final as (
    select
        record_key,
        source,
        source_record_id,
        profile_id,
        component_id,
        assignment_status,
        {{ dbt.current_timestamp() }} as resolved_at
    from resolved
)

select * from final
