{#- Fuzzy identity edges, record to record, for the identity graph: the pairs
    int_fuzzy_link_decisions merges (model score above fuzzy_match_threshold
    without contradiction, or accepted by a steward), never two records with
    different customer ids of one system. The identity model unions these with
    its deterministic edges, so they go through the same connected components,
    hub guards and stable-id rules. Set var fuzzy_matching_enabled: false to
    build identity from deterministic evidence only (this model is then empty). -#}
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
        'fuzzy' as edge_type,
        link_status
    from decisions
    where is_merged
    {%- if not var('fuzzy_matching_enabled', true) %}
        and 1 = 0
    {%- endif %}
)

select * from final
