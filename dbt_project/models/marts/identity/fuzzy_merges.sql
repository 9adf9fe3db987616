{#- Every fuzzy link used to merge two records, with why: the probability, the
    level each comparison fell into (and its weight, in the JSON explanation),
    and who decided (the model above the threshold, or a steward). -#}
with decisions as (
    select * from {{ ref('int_fuzzy_link_decisions') }}
),

final as (
    select
        fuzzy_pair_id,
        source_a,
        source_record_id_a,
        source_b,
        source_record_id_b,
        match_probability,
        match_weight,
        case link_status
            when 'accepted_by_steward' then 'steward'
            else 'model'
        end as merged_by,
        reviewer,
        decided_at,
        name_level,
        birth_date_level,
        address_level,
        email_level,
        phone_level,
        employer_level,
        contradiction,
        explanation_json,
        model_version
    from decisions
    where is_merged
)

select * from final
