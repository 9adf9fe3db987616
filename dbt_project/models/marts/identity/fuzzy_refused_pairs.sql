{#- Grain: one row per candidate pair that the model scored at or above
    fuzzy_review_threshold (or a steward named) and that was not merged, with the
    rule that held it back and its score. The audit of every refusal a steward
    would otherwise not see: two_accounts_one_system (waits in
    fuzzy_review_queue), account_chain and account_cluster (merged links that
    would join two accounts of one system through other records), a
    contradicting level (first_name_differs, birth_date_differs...),
    rejected_by_steward, borderline_score. Deterministic links dropped by the hub
    limits are in marts.identity_dropped_links. -#}
with decisions as (
    select * from {{ ref('int_fuzzy_link_decisions') }}
),

refused as (
    select * from decisions
    where not is_merged
        and refusal_rule <> 'below_review_threshold'
),

final as (
    select
        fuzzy_pair_id,
        source_a,
        source_record_id_a,
        source_b,
        source_record_id_b,
        refusal_rule as refused_by,
        match_probability,
        match_weight,
        link_status,
        link_status = 'needs_review' as is_in_review_queue,
        contradiction,
        review_decision,
        reviewer,
        decided_at,
        name_level,
        birth_date_level,
        address_level,
        email_level,
        phone_level,
        employer_level,
        model_version
    from refused
)

select * from final
