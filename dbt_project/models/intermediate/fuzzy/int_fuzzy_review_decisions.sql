{#- The steward's review file, one row per pair: side a is the smaller
    (source, source_record_id) whichever order the steward wrote, values trimmed
    and lowercased where they are keywords, and only the latest decision per
    pair kept, so a later line overrides an earlier one (on a tie, reject wins). -#}
{%- set a_first -%}
(source_a_raw < source_b_raw
            or (source_a_raw = source_b_raw and source_record_id_a_raw <= source_record_id_b_raw))
{%- endset %}
with decisions as (
    select * from {{ ref('fuzzy_review_decisions') }}
),

cleaned as (
    select
        trim(source_a) as source_a_raw,
        trim(source_record_id_a) as source_record_id_a_raw,
        trim(source_b) as source_b_raw,
        trim(source_record_id_b) as source_record_id_b_raw,
        lower(trim(decision)) as decision,
        reviewer,
        decided_at
    from decisions
    where source_a is not null
        and source_record_id_a is not null
        and source_b is not null
        and source_record_id_b is not null
        and lower(trim(decision)) in ('accept', 'reject')
),

ordered as (
    select
        case
            when {{ a_first }} then source_a_raw
            else source_b_raw
        end as source_a,
        case
            when {{ a_first }} then source_record_id_a_raw
            else source_record_id_b_raw
        end as source_record_id_a,
        case
            when {{ a_first }} then source_b_raw
            else source_a_raw
        end as source_b,
        case
            when {{ a_first }} then source_record_id_b_raw
            else source_record_id_a_raw
        end as source_record_id_b,
        decision,
        reviewer,
        decided_at
    from cleaned
),

ranked as (
    select
        *,
        row_number() over (
            partition by source_a, source_record_id_a, source_b, source_record_id_b
            order by decided_at desc nulls last, decision desc
        ) as recency_rank
    from ordered
),

final as (
    select
        source_a,
        source_record_id_a,
        source_b,
        source_record_id_b,
        decision,
        reviewer,
        decided_at
    from ranked
    where recency_rank = 1
)

select * from final
