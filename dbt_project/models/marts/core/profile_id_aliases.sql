{#- Merge history: every profile id that was merged into another, pointing at
    the id that is live now (chains are followed: when the survivor itself merged_ids
    later, its earlier aliases are re-pointed). Join any stored profile id through
    this table to find today's profile. Incremental and exempt from
    --full-refresh: this history cannot be rebuilt from the sources. A contracted
    model: new columns are appended, none is dropped silently. -#}
-- depends_on: {{ ref('int_profile_id_registry') }}
{{
    config(
        materialized='incremental',
        unique_key='old_profile_id',
        full_refresh=false,
        on_schema_change='append_new_columns',
    )
}}

with resolved as (
    select * from {{ ref('int_profile_ids_resolved') }}
),

merged_ids as (
    select distinct
        prior_profile_id as old_profile_id,
        profile_id
    from resolved
    where assignment_status = 'merged'
),

new_aliases as (
    select
        old_profile_id,
        profile_id,
        {{ dbt.current_timestamp() }} as merged_at
    from merged_ids
),

{% if is_incremental() %}
repointed as (
    select
        existing.old_profile_id,
        merged_ids.profile_id,
        existing.merged_at
    from {{ this }} as existing
    inner join merged_ids on merged_ids.old_profile_id = existing.profile_id
),
{% endif %}

candidates as (
    select
        old_profile_id,
        profile_id,
        merged_at,
        1 as preference
    from new_aliases
    {%- if is_incremental() %}
    union all
    select
        old_profile_id,
        profile_id,
        merged_at,
        2 as preference
    from repointed
    {%- endif %}
),

ranked as (
    select
        *,
        row_number() over (partition by old_profile_id order by preference, merged_at) as candidate_rank
    from candidates
),

final as (
    select
        old_profile_id,
        profile_id,
        merged_at
    from ranked
    where candidate_rank = 1
)

select * from final
