{#- The erasure boundary: the final select of a core mart (customer_events,
    customer_identifiers, customer_profiles) without the profiles under erasure.

    Why here and only here: an erasure request leaves a tombstone
    (erased_profiles) and nothing else, and every other mart, score, audience and
    report reads a person through these three, so filtering once at the core
    boundary keeps every mart downstream clean without repeating the rule.
    The singular test assert_no_mart_holds_an_erased_profile checks it. -#}
{% macro without_erased_profiles(relation) -%}
select * from {{ relation }}
where not exists (
    select 1 from {{ ref('erased_profiles') }} as erased
    where erased.profile_id = {{ relation }}.profile_id
)
{%- endmacro %}


{#- The built models the erasure test checks: every enabled table, view or
    incremental model under marts, audiences or reporting that has a profile_id
    column, found from the graph so a new mart is checked without being listed.
    Returns (model name, relation, condition) triples; the condition (SQL, or
    none) narrows which rows of that model must hold no erased profile, for the
    models in kept_by_design (a model mapped to none is skipped). Empty at parse
    time and for models not built yet. -#}
{% macro erasure_checked_models(kept_by_design) -%}
    {%- set checked = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.enabled
            and node.config.materialized in ('table', 'view', 'incremental')
            and node.fqn[1] in ('marts', 'audiences', 'reporting')
            and not (node.name in kept_by_design and kept_by_design[node.name] is none) -%}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
            {%- if relation is not none -%}
                {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
                {%- if 'profile_id' in names -%}
                    {%- do checked.append((node.name, relation, kept_by_design.get(node.name))) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(checked) }}
{%- endmacro %}
