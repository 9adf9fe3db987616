{#- profile_id for every record, stable across runs.

    Reads the previous run's assignments (int_profile_id_registry, looked up as a
    relation rather than ref'd: the registry is built from this model) and:
      - each previous profile id is claimed by the component that now holds its
        smallest record (so a split keeps the id on one side only);
      - a component that claims one or more previous ids keeps the one whose
        claiming record is smallest; the others are merged into it
        (assignment_status 'merged', recorded in profile_id_aliases);
      - a component with no previous id gets md5('profile|' || anchor record node):
        the same input always gives the same ids, and appending unrelated records
        cannot change an existing one. -#}
{%- set registry = adapter.get_relation(database=this.database, schema=this.schema, identifier='int_profile_id_registry') if execute else none -%}
{#- registries written before assigned_at existed (an early version) have no order column -#}
{%- set has_assigned_at = registry is not none and 'assigned_at' in (adapter.get_columns_in_relation(registry) | map(attribute='name') | map('lower') | list) -%}
{%- set aliases = adapter.get_relation(database=this.database, schema=generate_schema_name('marts', none) | trim, identifier='profile_id_aliases') if execute else none -%}

with components as (
    select * from {{ ref('int_identity_components') }}
),

registry_rows as (
    {%- if registry is not none %}
    select
        record_key,
        profile_id,
        row_number() over (
            partition by record_key
            {%- if has_assigned_at %}
            order by case when assigned_at is null then 1 else 0 end, assigned_at desc
            {%- else %}
            order by profile_id
            {%- endif %}
        ) as recency_rank
    from {{ registry }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as record_key,
        cast(null as {{ dbt.type_string() }}) as profile_id,
        1 as recency_rank
    where 1 = 0
    {%- endif %}
),

-- the latest row per record: the registry is upserted where the adapter merges on
-- unique_key, and append-only where it cannot (Spark without Delta), a log either way
prior_assignments as (
    select
        record_key,
        profile_id as prior_profile_id
    from registry_rows
    where recency_rank = 1
),

retired_ids as (
    select profile_id from registry_rows
    {%- if aliases is not none %}
    union
    select old_profile_id as profile_id from {{ aliases }}
    {%- endif %}
),

current_records as (
    select
        components.*,
        prior_assignments.prior_profile_id
    from components
    left join prior_assignments on prior_assignments.record_key = components.record_key
),

claims as (
    select
        prior_profile_id,
        component_id,
        min(record_node) as claim_node
    from current_records
    where prior_profile_id is not null
    group by prior_profile_id, component_id
),

claims_ranked as (
    select
        *,
        row_number() over (partition by prior_profile_id order by claim_node) as claim_rank
    from claims
),

claimed as (
    select
        prior_profile_id,
        component_id,
        claim_node,
        row_number() over (partition by component_id order by claim_node, prior_profile_id) as survivor_rank
    from claims_ranked
    where claim_rank = 1
),

survivors as (
    select
        component_id,
        prior_profile_id as profile_id
    from claimed
    where survivor_rank = 1
),

component_ids as (
    select distinct component_id from components
),

fresh_ids as (
    select
        component_ids.component_id,
        {{ dbt.hash(dbt.concat(["'profile|'", 'component_ids.component_id'])) }} as fresh_profile_id
    from component_ids
    left join survivors on survivors.component_id = component_ids.component_id
    where survivors.component_id is null
),

new_ids as (
    -- a fresh id never reuses one that was ever handed out (a split-off part whose
    -- anchor once anchored a now-retired id): salt it instead
    select
        fresh_ids.component_id,
        case
            when retired.profile_id is null then fresh_ids.fresh_profile_id
            else {{ dbt.hash(dbt.concat(["'profile|split|'", 'fresh_ids.component_id'])) }}
        end as profile_id
    from fresh_ids
    left join (select distinct profile_id from retired_ids) as retired
        on retired.profile_id = fresh_ids.fresh_profile_id
),

component_profiles as (
    select
        component_id,
        profile_id,
        false as is_new
    from survivors
    union all
    select
        component_id,
        profile_id,
        true as is_new
    from new_ids
),

final as (
    select
        current_records.record_key,
        current_records.source,
        current_records.source_record_id,
        current_records.record_node,
        current_records.component_id,
        component_profiles.profile_id,
        current_records.prior_profile_id,
        case
            when current_records.prior_profile_id is null then 'new'
            when current_records.prior_profile_id = component_profiles.profile_id then 'kept'
            when claimed.prior_profile_id is not null then 'merged'
            else 'split'
        end as assignment_status
    from current_records
    inner join component_profiles on component_profiles.component_id = current_records.component_id
    left join claimed
        on claimed.prior_profile_id = current_records.prior_profile_id
        and claimed.component_id = current_records.component_id
)

select * from final
