{#- Borderline pairs for a data steward: score between fuzzy_review_threshold and
    fuzzy_match_threshold, or above it but with a contradicting level (another
    first name in the same family, birth dates further apart than a typo). Shows
    both records side by side; to decide, copy the pair's four key columns into
    seeds/fuzzy_review_decisions.csv with decision accept or reject. Pairs
    already decided leave the queue. Two accounts of one system (account ids:
    two shop logins) never merge without a steward: they wait here with reason
    two_accounts_one_system whatever their score. -#}
with decisions as (
    select * from {{ ref('int_fuzzy_link_decisions') }}
),

person_records as (
    select * from {{ ref('int_person_records') }}
),

queued as (
    select * from decisions
    where link_status = 'needs_review'
),

final as (
    select
        queued.fuzzy_pair_id,
        queued.source_a,
        queued.source_record_id_a,
        queued.source_b,
        queued.source_record_id_b,
        queued.match_probability,
        queued.match_weight,
        queued.refusal_rule as review_reason,
        {#- a second account that also contradicts (another first name at the
            household's address) is more often a relative than a person -#}
        queued.contradiction,
        queued.name_level,
        queued.birth_date_level,
        queued.address_level,
        queued.email_level,
        queued.phone_level,
        queued.employer_level,
        record_a.first_name as first_name_a,
        record_b.first_name as first_name_b,
        record_a.last_name as last_name_a,
        record_b.last_name as last_name_b,
        record_a.birth_date as birth_date_a,
        record_b.birth_date as birth_date_b,
        record_a.email as email_a,
        record_b.email as email_b,
        record_a.phone as phone_a,
        record_b.phone as phone_b,
        record_a.street as street_a,
        record_b.street as street_b,
        record_a.postcode as postcode_a,
        record_b.postcode as postcode_b,
        record_a.city as city_a,
        record_b.city as city_b,
        queued.explanation_json,
        queued.model_version
    from queued
    inner join person_records as record_a
        on record_a.source = queued.source_a
        and record_a.source_record_id = queued.source_record_id_a
    inner join person_records as record_b
        on record_b.source = queued.source_b
        and record_b.source_record_id = queued.source_record_id_b
)

select * from final
