{#- No mart, score, audience or report holds a profile under erasure.

    The erasure filter runs once, at the core boundary (macro
    without_erased_profiles in customer_events, customer_identifiers,
    customer_profiles); everything else reads a person through those. This test
    checks every model built into marts, audiences or reporting that has a
    profile_id column, found from the manifest, so a new mart is checked without
    being listed here. Two keep erased profile ids by design: erased_profiles
    (the tombstones) and customer_suppressions' 'erasure' rows (what carries the
    erasure to every destination). Fails with one row per offending model. -#}
{#- Ordering: built after every mart it reads (the leaves of marts and audiences). -#}
-- depends_on: {{ ref('audience_membership_history') }}
-- depends_on: {{ ref('customer_contactability') }}
-- depends_on: {{ ref('identity_dropped_links') }}
-- depends_on: {{ ref('profile_id_aliases') }}
{%- set kept_by_design = {'erased_profiles': none, 'customer_suppressions': "reason <> 'erasure'"} -%}
{%- set checked = [] -%}
{%- if execute -%}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.enabled
        and node.config.materialized in ('table', 'view', 'incremental')
        and node.fqn[1] in ('marts', 'audiences', 'reporting')
        and node.name not in ['erased_profiles'] -%}
        {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) -%}
        {%- if relation is not none -%}
            {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
            {%- if 'profile_id' in names -%}
                {%- do checked.append((node.name, relation, kept_by_design.get(node.name))) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

with erased as (
    select profile_id from {{ ref('erased_profiles') }}
),

offending as (
    {%- for name, relation, condition in checked %}
    select '{{ name }}' as model_name, count(*) as erased_rows
    from {{ relation }} as mart
    where mart.profile_id in (select erased.profile_id from erased)
        {%- if condition %} and {{ condition }}{% endif %}
    {{ 'union all' if not loop.last }}
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as model_name, 0 as erased_rows
    {%- endfor %}
)

select * from offending
where erased_rows > 0
