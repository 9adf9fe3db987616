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
-- depends_on: {{ ref('erased_profiles') }}
-- depends_on: {{ ref('identity_dropped_links') }}
-- depends_on: {{ ref('profile_id_aliases') }}
{%- set kept_by_design = {'erased_profiles': none, 'customer_suppressions': "reason <> 'erasure'"} -%}
{%- set checked = erasure_checked_models(kept_by_design) %}

with offending as (
    {%- for name, relation, condition in checked %}
    select
        '{{ name }}' as model_name,
        count(*) as erased_rows
    from {{ relation }} as mart
    where mart.profile_id in (select erased.profile_id from {{ ref('erased_profiles') }} as erased)
        {%- if condition %} and {{ condition }}{% endif %}
    {{ 'union all' if not loop.last }}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as model_name,
        0 as erased_rows
    {%- endfor %}
)

select * from offending
where erased_rows > 0
