{#- Every candidate fuzzy pair with its final link_status: the pair-by-pair
    rules of int_fuzzy_pair_decisions, then the cluster guard below. -#}
{%- set cluster_rounds = var('fuzzy_guard_cluster_rounds', 4) -%}

with pair_decisions as (
    select * from {{ ref('int_fuzzy_pair_decisions') }}
),

{# The pair guards (int_fuzzy_pair_decisions) see a record and its direct
    partners. A longer chain of
    merged links (a CRM contact to one shop account, and through a form to the
    person's other one) can still join two accounts of one system. So the
    merged links are grouped into clusters (min-label propagation, enough
    rounds for the small clusters fuzzy links form) and a cluster that brings
    together more customer ids of one system than any of its records already
    holds has all its links refused: deterministic evidence wins. A steward's
    accept of two accounts of one system counts as one record holding both (the
    steward said they are one person), so it does not refuse its own cluster,
    while a third account reached through the cluster still does. -#}
merged_pairs as (
    select * from pair_decisions
    where link_status in ('merged_by_model', 'accepted_by_steward')
),

merged_records as (
    select
        source_a as source,
        source_record_id_a as source_record_id
    from merged_pairs
    union
    select
        source_b as source,
        source_record_id_b as source_record_id
    from merged_pairs
),

{{ fuzzy_customer_id_evidence('merged_records') }},

merged_links as (
    select
        pair_key,
        {{ dbt.concat(['source_a', "'|'", 'source_record_id_a']) }} as node_a,
        {{ dbt.concat(['source_b', "'|'", 'source_record_id_b']) }} as node_b
    from merged_pairs
),

{# each merged link both ways, and each record as its own neighbour, so a
    round is one join: a record takes the smallest label among itself and its
    neighbours. Every round reads the previous one once, so the query grows
    linearly with the rounds (Spark inlines CTEs: two reads per round doubled
    the plan each round, past the driver's memory at four). -#}
link_ends as (
    select
        case when ends.n in (1, 3) then merged_links.node_a else merged_links.node_b end as node,
        case when ends.n in (1, 4) then merged_links.node_a else merged_links.node_b end as neighbour
    from merged_links
    cross join (
        select 1 as n
        union all
        select 2 as n
        union all
        select 3 as n
        union all
        select 4 as n
    ) as ends
),

cluster_labels_0 as (
    select distinct
        node,
        node as label
    from link_ends
),
{%- for round in range(1, cluster_rounds + 1) %}

cluster_labels_{{ round }} as (
    select
        link_ends.node,
        min(previous.label) as label
    from link_ends
    inner join cluster_labels_{{ round - 1 }} as previous
        on previous.node = link_ends.neighbour
    group by link_ends.node
),
{%- endfor %}

cluster_customer_ids as (
    select
        clusters.label,
        clusters.node,
        ids.customer_system,
        ids.customer_id
    from cluster_labels_{{ cluster_rounds }} as clusters
    inner join evidence_customer_ids as ids
        on {{ dbt.concat(['ids.source', "'|'", 'ids.source_record_id']) }} = clusters.node
),

{# the two sides of each accepted pair of accounts, as one holder of both -#}
accepted_account_pairs as (
    select
        merged_links.pair_key,
        merged_links.node_a,
        merged_links.node_b
    from merged_links
    inner join merged_pairs on merged_pairs.pair_key = merged_links.pair_key
    where merged_pairs.link_status = 'accepted_by_steward'
        and merged_pairs.has_customer_id_conflict
),

holder_customer_ids as (
    select
        label,
        node as holder,
        customer_system,
        customer_id
    from cluster_customer_ids
    union all
    select
        ids.label,
        accepted.pair_key as holder,
        ids.customer_system,
        ids.customer_id
    from accepted_account_pairs as accepted
    inner join cluster_customer_ids as ids on ids.node = accepted.node_a
    union all
    select
        ids.label,
        accepted.pair_key as holder,
        ids.customer_system,
        ids.customer_id
    from accepted_account_pairs as accepted
    inner join cluster_customer_ids as ids on ids.node = accepted.node_b
),

per_record_ids as (
    select
        label,
        holder,
        customer_system,
        count(distinct customer_id) as ids
    from holder_customer_ids
    group by label, holder, customer_system
),

cluster_conflicts as (
    select cluster_ids.label
    from (
        select
            label,
            customer_system,
            count(distinct customer_id) as ids
        from cluster_customer_ids
        group by label, customer_system
    ) as cluster_ids
    inner join (
        select
            label,
            customer_system,
            max(ids) as ids
        from per_record_ids
        group by label, customer_system
    ) as record_ids
        on record_ids.label = cluster_ids.label
        and record_ids.customer_system = cluster_ids.customer_system
    where cluster_ids.ids > record_ids.ids
    group by cluster_ids.label
),

conflicting_links as (
    select distinct merged_links.pair_key
    from merged_links
    inner join cluster_labels_{{ cluster_rounds }} as clusters
        on clusters.node = merged_links.node_a
    inner join cluster_conflicts
        on cluster_conflicts.label = clusters.label
),

guarded as (
    select
        pair_decisions.*,
        conflicting_links.pair_key is not null as in_conflicting_cluster
    from pair_decisions
    left join conflicting_links on conflicting_links.pair_key = pair_decisions.pair_key
),

final as (
    select
        {{ dbt.hash(dbt.concat([
            'source_a', "'|'", 'source_record_id_a', "'|'", 'source_b', "'|'", 'source_record_id_b'
        ])) }} as fuzzy_pair_id,
        source_a,
        source_record_id_a,
        source_b,
        source_record_id_b,
        match_probability,
        match_weight,
        case
            when in_conflicting_cluster then 'refused_customer_id_conflict'
            else link_status
        end as link_status,
        case
            when in_conflicting_cluster then 'account_cluster'
            else refusal_rule
        end as refusal_rule,
        is_merged and not in_conflicting_cluster as is_merged,
        contradiction,
        has_customer_id_conflict or in_conflicting_cluster as has_customer_id_conflict,
        review_decision,
        reviewer,
        decided_at,
        name_level,
        birth_date_level,
        address_level,
        email_level,
        phone_level,
        employer_level,
        explanation_json,
        model_version
    from guarded
)

select * from final
