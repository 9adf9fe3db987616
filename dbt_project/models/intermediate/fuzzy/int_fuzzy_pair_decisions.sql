{#- Every candidate fuzzy pair (scored by the model, or named in the steward's
    review file) with what happens to it and why, judged pair by pair (the
    cluster guard in int_fuzzy_link_decisions comes after). Rules, first match wins:
    1. the steward rejected the pair: kept apart;
    2. the steward accepted the pair: merged (also two accounts of one system:
       the steward has seen both and says they are one person);
    3. the two records carry different account ids of one system (a namespace of
       kind account_id in the source registry: two shop logins): never merged by
       the model; from fuzzy_review_threshold the pair waits in the review queue
       with reason two_accounts_one_system. A record's account ids are its own and
       those its valid e-mails and phones lead to (macro
       fuzzy_customer_id_evidence), so a fuzzy link cannot join two accounts of one
       system through a third record either. Record ids (kind record_id: CRM
       contacts, two rows of one system that may be one person) never conflict;
    4. score >= fuzzy_match_threshold and no contradicting level (int_fuzzy_links,
       or first names that are one name's masculine and feminine forms, macro
       fuzzy_first_names_differ_in_gender): merged; another first name on the same
       birth date and street contradicts only without further evidence (macro
       fuzzy_first_name_replaced: a compound-name part, the employer or e-mail);
       when both records carry a national id, it alone decides: ids more than one
       keystroke apart contradict (national_id_differs), equal or one slip apart
       lift every other contradiction (equal ids also link deterministically);
    5. score >= fuzzy_review_threshold (or a high score with a contradiction):
       waits in the review queue;
    6. otherwise: below the review threshold, ignored.
    refusal_rule names what held a pair back (two_accounts_one_system,
    account_chain, or the contradicting level); marts.fuzzy_refused_pairs lists them.
    A table of its own so the cluster guard reads it once: Spark inlines CTEs,
    and the guard's rounds would copy all of this into its plan each round. -#}
{%- set match_threshold = var('fuzzy_match_threshold', 0.8) -%}
{%- set review_threshold = var('fuzzy_review_threshold', 0.6) -%}

with links as (
    select * from {{ ref('int_fuzzy_links') }}
),

review_decisions as (
    select * from {{ ref('int_fuzzy_review_decisions') }}
),

person_records as (
    select
        source,
        source_record_id,
        min(lower(trim(first_name))) as first_name
    from {{ ref('int_person_records') }}
    group by source, source_record_id
),

{# how many people carry each first name (records of one birth date count once,
    as a person's duplicates mostly repeat it), for macro fuzzy_first_name_slip -#}
first_name_carriers as (
    select
        lower(trim(first_name)) as first_name,
        count(distinct coalesce(
            cast(birth_date as {{ dbt.type_string() }}),
            {{ dbt.concat(['source', "'|'", 'source_record_id']) }}
        )) as people
    from {{ ref('int_person_records') }}
    where first_name is not null
    group by lower(trim(first_name))
),

{# a record's national id (the source registry's identifier of type national_id):
    two present ids more than one keystroke apart are two people, whatever the
    names say (twins share everything else); equal or one slip apart, the id
    outweighs another first name -#}
national_ids as (
    select
        source,
        source_record_id,
        min(identifier_value) as national_id
    from {{ ref('int_identifiers') }}
    where identifier_type = 'national_id'
        and identifier_value is not null
        and coalesce(is_valid, true)
    group by source, source_record_id
),

candidates as (
    select
        coalesce(links.source_a, review_decisions.source_a) as source_a,
        coalesce(links.source_record_id_a, review_decisions.source_record_id_a) as source_record_id_a,
        coalesce(links.source_b, review_decisions.source_b) as source_b,
        coalesce(links.source_record_id_b, review_decisions.source_record_id_b) as source_record_id_b,
        links.match_probability,
        links.match_weight,
        links.contradiction as model_contradiction,
        links.name_level,
        links.birth_date_level,
        links.address_level,
        links.email_level,
        links.phone_level,
        links.employer_level,
        links.explanation_json,
        links.model_version,
        review_decisions.decision as review_decision,
        review_decisions.reviewer,
        review_decisions.decided_at
    from links
    full outer join review_decisions
        on review_decisions.source_a = links.source_a
        and review_decisions.source_record_id_a = links.source_record_id_a
        and review_decisions.source_b = links.source_b
        and review_decisions.source_record_id_b = links.source_record_id_b
),

{# a decision about records that no longer exist is dropped, not merged -#}
existing as (
    select
        candidates.*,
        case
            when id_a.national_id is null or id_b.national_id is null
                then coalesce(
                        case
                            when
                                {{ fuzzy_first_name_replaced('candidates', 'record_a.first_name', 'record_b.first_name') }}
                                then null
                            else candidates.model_contradiction
                        end,
                        case
                            when
                                {{ fuzzy_first_names_differ_in_gender('record_a.first_name', 'record_b.first_name') }}
                                and not {{ fuzzy_first_name_slip('carriers_a.people', 'carriers_b.people') }}
                                and not {{ fuzzy_first_name_slip('carriers_b.people', 'carriers_a.people') }}
                                then 'first_name_gender_differs'
                        end
                    )
            when not {{ ferry_one_edit_apart('id_a.national_id', 'id_b.national_id') }}
                then 'national_id_differs'
        end as contradiction,
        {{ dbt.concat([
            'source_a', "'|'", 'source_record_id_a', "'|'", 'source_b', "'|'", 'source_record_id_b'
        ]) }} as pair_key
    from candidates
    inner join person_records as record_a
        on record_a.source = candidates.source_a
        and record_a.source_record_id = candidates.source_record_id_a
    inner join person_records as record_b
        on record_b.source = candidates.source_b
        and record_b.source_record_id = candidates.source_record_id_b
    left join national_ids as id_a
        on id_a.source = candidates.source_a
        and id_a.source_record_id = candidates.source_record_id_a
    left join national_ids as id_b
        on id_b.source = candidates.source_b
        and id_b.source_record_id = candidates.source_record_id_b
    left join first_name_carriers as carriers_a
        on carriers_a.first_name = record_a.first_name
    left join first_name_carriers as carriers_b
        on carriers_b.first_name = record_b.first_name
),

candidate_records as (
    select
        source_a as source,
        source_record_id_a as source_record_id
    from existing
    union
    select
        source_b as source,
        source_record_id_b as source_record_id
    from existing
),

{{ fuzzy_customer_id_evidence('candidate_records') }},

{# both sides' ids, per pair and system, compared by counting rather than by
    joining side a to side b (that join is quadratic in a system's ids) -#}
pair_customer_ids as (
    select
        existing.pair_key,
        existing.source_a,
        existing.source_record_id_a,
        existing.source_b,
        existing.source_record_id_b,
        'a' as side,
        ids.customer_system,
        ids.customer_id
    from existing
    inner join evidence_customer_ids as ids
        on ids.source = existing.source_a
        and ids.source_record_id = existing.source_record_id_a
    union all
    select
        existing.pair_key,
        existing.source_a,
        existing.source_record_id_a,
        existing.source_b,
        existing.source_record_id_b,
        'b' as side,
        ids.customer_system,
        ids.customer_id
    from existing
    inner join evidence_customer_ids as ids
        on ids.source = existing.source_b
        and ids.source_record_id = existing.source_record_id_b
),

per_system as (
    select
        source_a,
        source_record_id_a,
        source_b,
        source_record_id_b,
        customer_system,
        count(distinct case when side = 'a' then customer_id end) as ids_a,
        count(distinct case when side = 'b' then customer_id end) as ids_b,
        count(distinct customer_id) as ids_both
    from pair_customer_ids
    group by source_a, source_record_id_a, source_b, source_record_id_b, customer_system
),

{# a conflict: both sides have ids in one system and they are not one same id -#}
customer_id_conflicts as (
    select distinct
        source_a,
        source_record_id_a,
        source_b,
        source_record_id_b
    from per_system
    where ids_a > 0
        and ids_b > 0
        and ids_both > 1
),

decided as (
    select
        existing.*,
        conflicts.source_a is not null as has_customer_id_conflict,
        case
            when existing.review_decision = 'reject' then 'rejected_by_steward'
            when existing.review_decision = 'accept' then 'accepted_by_steward'
            when conflicts.source_a is not null
                and existing.match_probability >= {{ review_threshold }} then 'needs_review'
            when conflicts.source_a is not null then 'below_review_threshold'
            when existing.match_probability >= {{ match_threshold }}
                and existing.contradiction is null then 'merged_by_model'
            when existing.match_probability >= {{ review_threshold }} then 'needs_review'
            when existing.match_probability >= {{ match_threshold }} then 'needs_review'
            else 'below_review_threshold'
        end as link_status
    from existing
    left join customer_id_conflicts as conflicts
        on conflicts.source_a = existing.source_a
        and conflicts.source_record_id_a = existing.source_record_id_a
        and conflicts.source_b = existing.source_b
        and conflicts.source_record_id_b = existing.source_record_id_b
),

{# The guard above looks at one pair at a time; two merged links that share a
    record would still join what each brings (a CRM contact matching both of a
    person's shop accounts). So a side also holds the customer ids of the
    record's stronger merged links (higher probability, a steward's accept
    first, ties by pair key): of two links joining one record to two accounts
    of one system, the weaker is refused. A steward's accept is not second-guessed
    here (it may join two accounts on purpose); the cluster guard still applies. -#}
provisional as (
    select
        pair_key,
        source_a,
        source_record_id_a,
        source_b,
        source_record_id_b,
        case
            when link_status = 'accepted_by_steward' then 2.0
            else match_probability
        end as strength
    from decided
    where link_status in ('merged_by_model', 'accepted_by_steward')
),

provisional_sides as (
    select
        pair_key,
        strength,
        'a' as side,
        source_a as source,
        source_record_id_a as source_record_id,
        source_b as partner_source,
        source_record_id_b as partner_record_id
    from provisional
    union all
    select
        pair_key,
        strength,
        'b' as side,
        source_b as source,
        source_record_id_b as source_record_id,
        source_a as partner_source,
        source_record_id_a as partner_record_id
    from provisional
),

chain_customer_ids as (
    select
        pair_customer_ids.pair_key,
        pair_customer_ids.side,
        pair_customer_ids.customer_system,
        pair_customer_ids.customer_id
    from pair_customer_ids
    inner join provisional on provisional.pair_key = pair_customer_ids.pair_key
    union
    select
        target.pair_key,
        target.side,
        ids.customer_system,
        ids.customer_id
    from provisional_sides as target
    inner join provisional_sides as stronger
        on stronger.source = target.source
        and stronger.source_record_id = target.source_record_id
        and stronger.pair_key <> target.pair_key
        and (
            stronger.strength > target.strength
            or (stronger.strength = target.strength and stronger.pair_key < target.pair_key)
        )
    inner join evidence_customer_ids as ids
        on ids.source = stronger.partner_source
        and ids.source_record_id = stronger.partner_record_id
),

-- per merged pair and system: both sides bring ids of that system, and not one same id
chain_conflicted_systems as (
    select
        chain_customer_ids.pair_key,
        chain_customer_ids.customer_system
    from chain_customer_ids
    inner join decided on decided.pair_key = chain_customer_ids.pair_key
    where decided.link_status = 'merged_by_model'
    group by chain_customer_ids.pair_key, chain_customer_ids.customer_system
    having count(distinct case when chain_customer_ids.side = 'a' then chain_customer_ids.customer_id end) > 0
        and count(distinct case when chain_customer_ids.side = 'b' then chain_customer_ids.customer_id end) > 0
        and count(distinct chain_customer_ids.customer_id) > 1
),

chain_conflicts as (
    select distinct pair_key from chain_conflicted_systems
),

final as (
    select
        decided.pair_key,
        decided.source_a,
        decided.source_record_id_a,
        decided.source_b,
        decided.source_record_id_b,
        decided.match_probability,
        decided.match_weight,
        decided.contradiction,
        decided.review_decision,
        decided.reviewer,
        decided.decided_at,
        decided.name_level,
        decided.birth_date_level,
        decided.address_level,
        decided.email_level,
        decided.phone_level,
        decided.employer_level,
        decided.explanation_json,
        decided.model_version,
        (
            decided.has_customer_id_conflict
            or chain_conflicts.pair_key is not null
        ) as has_customer_id_conflict,
        case
            when chain_conflicts.pair_key is not null then 'refused_customer_id_conflict'
            else decided.link_status
        end as link_status,
        case
            when decided.link_status in ('merged_by_model', 'accepted_by_steward')
                and chain_conflicts.pair_key is null then null
            when decided.link_status = 'rejected_by_steward' then 'rejected_by_steward'
            when decided.link_status = 'below_review_threshold' then 'below_review_threshold'
            when decided.has_customer_id_conflict then 'two_accounts_one_system'
            when chain_conflicts.pair_key is not null then 'account_chain'
            when decided.contradiction is not null then decided.contradiction
            else 'borderline_score'
        end as refusal_rule,
        (
            decided.link_status in ('merged_by_model', 'accepted_by_steward')
            and chain_conflicts.pair_key is null
        ) as is_merged
    from decided
    left join chain_conflicts on chain_conflicts.pair_key = decided.pair_key
)

select * from final
