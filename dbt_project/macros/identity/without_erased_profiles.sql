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
