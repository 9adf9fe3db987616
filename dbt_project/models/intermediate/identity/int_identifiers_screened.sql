{#- Every identifier occurrence (record x identifier) with the screening rules
    applied: missing, invalid (flagged by staging), blocked values and blocked
    patterns never link. Which shared identifiers are hubs is decided next, in
    int_identifier_link_limits. -#}
{%- set blocked_values = identity_setting('identity_blocked_values') -%}
{%- set known_types = identity_setting('identity_type_priority') -%}
{%- set patterned_types = identity_setting('identity_blocked_patterns').keys() | reject('equalto', 'any') | list -%}

with identifiers as (
    select * from {{ ref('int_identifiers') }}
),

deduplicated as (
    select
        source,
        source_record_id,
        identifier_type,
        identifier_value,
        {{ dbt.bool_or('not coalesce(is_valid, true)') }} as has_invalid_flag,
        min(invalid_reason) as invalid_reason,
        min(observed_at) as first_observed_at,
        max(observed_at) as last_observed_at
    from identifiers
    where source is not null
        and source_record_id is not null
    group by source, source_record_id, identifier_type, identifier_value
),

keyed as (
    select
        *,
        {{ dbt.concat(['source', "'|'", 'source_record_id']) }} as record_key,
        {{ dbt.concat(['identifier_type', "'|'", "coalesce(identifier_value, '')"]) }} as identifier_key,
        lower(trim(
            case
                when identifier_type = 'customer_id' and identifier_value like '%:%'
                    then {{ dbt.split_part('identifier_value', "':'", 2) }}
                else identifier_value
            end
        )) as match_value
    from deduplicated
),

screened as (
    select
        *,
        case
            when identifier_value is null or trim(identifier_value) = '' then 'missing_value'
            when identifier_type is null
                or identifier_type not in (
                    {%- for t in known_types %}{{ identity_literal(t) }}{% if not loop.last %}, {% endif %}{% endfor -%}
                ) then 'unknown_identifier_type'
            when has_invalid_flag then 'invalid_identifier'
            when match_value in (
                {%- for v in blocked_values %}{{ identity_literal(v | lower) }}{% if not loop.last %}, {% endif %}{% endfor -%}
            ) then 'blocked_value'
            when {{ identity_matches_blocked_pattern('match_value', 'any') }} then 'blocked_pattern'
            {%- for t in patterned_types %}
            when identifier_type = {{ identity_literal(t) }}
                and {{ identity_matches_blocked_pattern('match_value', t) }} then 'blocked_pattern'
            {%- endfor %}
        end as screen_reason
    from keyed
),

final as (
    select
        {{ dbt.hash(dbt.concat(['record_key', "'|'", 'identifier_key'])) }} as identifier_occurrence_id,
        record_key,
        source,
        source_record_id,
        identifier_type,
        identifier_value,
        identifier_key,
        {{ dbt.concat(["'1'", dbt.hash('identifier_key')]) }} as identifier_node,
        {{ identity_type_rank('identifier_type') }} as type_rank,
        case
            when identifier_type = 'customer_id' and identifier_value like '%:%'
                then {{ dbt.split_part('identifier_value', "':'", 1) }}
        end as customer_system,
        invalid_reason,
        screen_reason,
        screen_reason is null as is_linkable,
        first_observed_at,
        last_observed_at
    from screened
)

select * from final
