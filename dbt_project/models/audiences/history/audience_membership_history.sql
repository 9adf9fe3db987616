{{ config(materialized='incremental', unique_key='membership_event_id', on_schema_change='append_new_columns') }}
-- Who entered and left each audience, and when: each run compares the current
-- members of every audience with the state the history itself implies (the last
-- change per audience and profile) and appends the differences. The basis of
-- "entered audience" triggers and size trends. `changed_at` is the run's
-- reference instant (var ferry_as_of or now).
with current_members as (
    {%- for name in ferry_audiences() %}
    select
        '{{ name }}' as audience,
        cast(profile_id as {{ dbt.type_string() }}) as profile_id,
        cast(variant as {{ dbt.type_string() }}) as variant
    from {{ ref(name) }}
    {{- "\n    union all" if not loop.last }}
    {%- endfor %}
),

{% if is_incremental() %}
previous_changes as (
    select
        audience,
        profile_id,
        variant,
        change_type,
        row_number() over (partition by audience, profile_id order by changed_at desc, change_type asc) as change_rank
    from {{ this }}
),

previous_members as (
    select audience, profile_id, variant
    from previous_changes
    where change_rank = 1 and change_type = 'entered'
),
{% else %}
previous_members as (
    select
        audience,
        profile_id,
        variant
    from current_members
    where 1 = 0
),
{% endif %}

entered as (
    select
        current_members.audience,
        current_members.profile_id,
        current_members.variant,
        'entered' as change_type
    from current_members
    left join previous_members
        on previous_members.audience = current_members.audience
        and previous_members.profile_id = current_members.profile_id
    where previous_members.profile_id is null
),

exited as (
    select
        previous_members.audience,
        previous_members.profile_id,
        previous_members.variant,
        'left' as change_type
    from previous_members
    left join current_members
        on current_members.audience = previous_members.audience
        and current_members.profile_id = previous_members.profile_id
    where current_members.profile_id is null
),

changes as (
    select * from entered
    union all
    select * from exited
),

final as (
    select
        {{ dbt.hash(dbt.concat([
            'audience', "'|'", 'profile_id', "'|'", 'change_type', "'|'",
            dbt.safe_cast(audiences_as_of(), dbt.type_string()),
        ])) }}
            as membership_event_id,
        audience,
        profile_id,
        variant,
        change_type,
        {{ audiences_as_of() }} as changed_at
    from changes
)

select * from final
