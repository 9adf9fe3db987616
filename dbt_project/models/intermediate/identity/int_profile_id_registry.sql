{#- The profile id of every record ever resolved: the memory that keeps ids
    stable and lets merges be detected. Incremental on record_key and exempt
    from --full-refresh (a rebuild would still read itself through
    int_profile_ids_resolved, but dropping it forgets merges); records that
    disappear from the sources keep their last row. Each run writes only the
    records that are new or changed profile. -#}
{{
    config(
        materialized='incremental',
        unique_key='record_key',
        full_refresh=false,
        on_schema_change='sync_all_columns',
    )
}}

with resolved as (
    select * from {{ ref('int_profile_ids_resolved') }}
),

changed as (
    -- only new records and records whose profile changed are written
    select * from resolved
    {%- if is_incremental() %}
    where prior_profile_id is null
        or prior_profile_id <> profile_id
    {%- endif %}
),

final as (
    select
        record_key,
        source,
        source_record_id,
        profile_id,
        assignment_status as last_change,
        {{ dbt.current_timestamp() }} as assigned_at
    from changed
)

select * from final
