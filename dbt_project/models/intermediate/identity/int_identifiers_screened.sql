{#- Every identifier occurrence (record x identifier) with the screening rules
    applied: missing, invalid (flagged by staging), blocked values and blocked
    patterns never link. Which shared identifiers are hubs is decided next, in
    int_identifier_link_limits. -#}
{%- set blocked_values = identity_setting('identity_blocked_values') -%}
{%- set known_types = identity_setting('identity_type_priority') -%}
{%- set patterned_types = identity_setting('identity_blocked_patterns').keys() | reject('equalto', 'any') | list -%}
{%- set repair_emails = var('identity_repair_emails', true) -%}

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
                or identifier_type not in ({{ identity_literal_list(known_types) }}) then 'unknown_identifier_type'
            when has_invalid_flag then 'invalid_identifier'
            when match_value in (
                {%- for value in blocked_values %}
                {{ identity_literal(value | lower) }}{{ ',' if not loop.last }}
                {%- else %}
                null
                {%- endfor %}
            ) then 'blocked_value'
            when {{ identity_matches_blocked_pattern('match_value', 'any') }} then 'blocked_pattern'
            {%- for t in patterned_types %}
            when identifier_type = {{ identity_literal(t) }}
                and {{ identity_matches_blocked_pattern('match_value', t) }} then 'blocked_pattern'
            {%- endfor %}
        end as screen_reason
    from keyed
),

{# A broken e-mail address (invalid per staging) is read as the one valid
    address seen elsewhere that it spells, letters and digits only, in full
    ('zoe.schinke @granit-btp.com', 'yvon.goffaux.papeterie-royale.com' with
    no @) or up to its top-level domain ('flegall@hotmail' or
    'flegall@@hotmail.com' for flegall@hotmail.fr). Only a spelling that one
    known address alone has counts, so two readings mean none. The broken occurrence keeps its row
    (invalid, not linkable); the reading is one more row carrying the known
    address, with repaired_from saying what was written. Hub guards then treat
    it like any other occurrence of that address. -#}
known_emails as (
    select distinct
        identifier_value,
        match_value
    from screened
    where identifier_type = 'email'
        and screen_reason is null
),

known_spellings as (
    select
        identifier_value,
        {{ identity_email_spelling('match_value') }} as spelling
    from known_emails
    union
    select
        identifier_value,
        -- up to the domain's first dot: the address with no top-level domain
        {{ identity_email_spelling(dbt.concat([
            dbt.split_part('match_value', "'@'", 1),
            dbt.split_part(dbt.split_part('match_value', "'@'", 2), "'.'", 1)
        ])) }} as spelling
    from known_emails
),

unambiguous_spellings as (
    select
        spelling,
        min(identifier_value) as identifier_value
    from known_spellings
    group by spelling
    having count(distinct identifier_value) = 1
),

broken_emails as (
    select
        source,
        source_record_id,
        identifier_type,
        identifier_value,
        match_value,
        record_key,
        first_observed_at,
        last_observed_at,
        -- where the last dot falls, counted from the end (0: no dot)
        {{ dbt.position("'.'", 'reverse(match_value)') }} as last_dot_from_end,
        {{ dbt.position("'@'", 'reverse(match_value)') }} as last_at_from_end
    from screened
    where {{ 'true' if repair_emails else 'false' }}
        and identifier_type = 'email'
        and screen_reason = 'invalid_identifier'
),

{%- set broken_columns = [
    'source', 'source_record_id', 'identifier_type', 'identifier_value', 'record_key',
    'first_observed_at', 'last_observed_at'
] %}

broken_spellings as (
    select {{ broken_columns | join(', ') }}, {{ identity_email_spelling('match_value') }} as spelling
    from broken_emails
    union
    -- the mailbox under another top-level domain ('elindau.free.com' for
    -- elindau@free.fr): the part after the last dot dropped, when that dot
    -- ends the domain (after the last @, or anywhere in an address with no @)
    select
        {{ broken_columns | join(', ') }},
        {{ identity_email_spelling(
            'substr(match_value, 1, ' ~ dbt.length('match_value') ~ ' - last_dot_from_end)'
        ) }} as spelling
    from broken_emails
    where last_dot_from_end > 0
        and (last_at_from_end = 0 or last_dot_from_end < last_at_from_end)
),

{# one reading per broken address, or none when its spellings name two -#}
readings as (
    select
        {%- for column in broken_columns %}
        broken_spellings.{{ column }},
        {%- endfor %}
        min(known.identifier_value) as known_value
    from broken_spellings
    inner join unambiguous_spellings as known on known.spelling = broken_spellings.spelling
    -- a spelling this short ('a1@b') could be anyone's
    where {{ dbt.length('broken_spellings.spelling') }} >= 6
    group by
        {%- for column in broken_columns %}
        broken_spellings.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    having count(distinct known.identifier_value) = 1
),

repaired as (
    select
        source,
        source_record_id,
        identifier_type,
        known_value as identifier_value,
        record_key,
        {{ dbt.concat(["'email|'", 'known_value']) }} as identifier_key,
        cast(null as {{ dbt.type_string() }}) as invalid_reason,
        cast(null as {{ dbt.type_string() }}) as screen_reason,
        first_observed_at,
        last_observed_at,
        identifier_value as repaired_from
    from readings
    -- the record already holds the address itself
    where not exists (
        select 1 from screened as own
        where own.record_key = readings.record_key
            and own.identifier_key = {{ dbt.concat(["'email|'", 'readings.known_value']) }}
    )
),

{%- set occurrence_columns = [
    'source', 'source_record_id', 'identifier_type', 'identifier_value', 'record_key',
    'identifier_key', 'invalid_reason', 'screen_reason', 'first_observed_at', 'last_observed_at'
] %}

occurrences as (
    select
        {{ occurrence_columns | join(', ') }},
        cast(null as {{ dbt.type_string() }}) as repaired_from
    from screened
    union all
    select {{ occurrence_columns | join(', ') }}, repaired_from from repaired
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
        repaired_from,
        first_observed_at,
        last_observed_at
    from occurrences
)

select * from final
