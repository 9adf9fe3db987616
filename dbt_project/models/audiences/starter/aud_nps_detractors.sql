-- NPS detractors: the latest survey answer in var nps_window_days scores 0..6
-- (var nps_detractor_max_score). Sent to the CRM for a service-recovery call.
with responses as (
    select
        profile_id,
        event_id,
        occurred_at,
        cast(coalesce(
            {{ json_text('attributes_json', 'nps') }},
            {{ json_text('attributes_json', 'nps_score') }},
            {{ json_text('attributes_json', 'score') }},
            {{ dbt.safe_cast('amount', dbt.type_string()) }}
        ) as {{ dbt.type_float() }}) as nps_score
    from {{ ref('customer_events') }}
    where event_type in {{ event_types_for('nps') }}
        and lower(coalesce({{ json_text('attributes_json', 'survey_type') }}, category, 'nps')) = 'nps'
        and occurred_at <= {{ audiences_as_of() }}
        and occurred_at > {{ audiences_days_ago(var('nps_window_days', 90)) }}
),

latest as (
    select
        responses.*,
        row_number() over (partition by profile_id order by occurred_at desc, event_id desc) as response_rank
    from responses
    where nps_score is not null
),

candidates as (
    select
        profile_id,
        nps_score,
        occurred_at as responded_at
    from latest
    where response_rank = 1
        and nps_score <= {{ var('nps_detractor_max_score', 6) | int }}
),

eligible as (
    select candidates.*
    from candidates
    where {{ audience_eligible('none', 'candidates.profile_id') }}
),

final as (
    select
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_nps_detractors') }} as variant,
        profiles.email,
        profiles.first_name,
        profiles.last_name,
        scores.owner_email,
        eligible.nps_score,
        eligible.responded_at,
        scores.lifecycle_stage
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    left join {{ ref('customer_scores') }} as scores
        on scores.profile_id = eligible.profile_id
)

select * from final
