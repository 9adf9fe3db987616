{#- True when a pair whose only contradiction is another first name (same last
    name: level "last name exact, first name different") is more likely one person
    whose first name was replaced (a second given name, a data-entry slip) than two
    relatives (twins, siblings). The evidence: the same birth date and the same
    street, and besides that either one first name is a part of the other's
    compound name (Anne-Marie / Marie) or a field that relatives rarely share
    agrees: the employer or the e-mail (exact, respelled, or its local part or
    number). A shared phone is no such evidence (a household's landline), nor is
    the name's frequency (twins are as common under any name). Without that
    evidence the pair stays in the review queue (first_name_differs). `pair` is a
    relation with int_fuzzy_links' level columns; a and b are lowercased first
    names. Var fuzzy_first_name_evidence: false restores the blanket refusal (to
    measure what the evidence changes). -#}
{% macro fuzzy_first_name_replaced(pair, a, b) -%}
{%- if not var('fuzzy_first_name_evidence', true) %}false{% else -%}
(
    {{ pair }}.name_level = 'last name exact, first name different'
    and {{ pair }}.birth_date_level = 'Exact match on birth_date'
    and {{ pair }}.address_level = 'same street and postcode or city'
    and (
        {{ pair }}.employer_level = 'Exact match on employer'
        or {{ pair }}.email_level in (
            'Exact match on email',
            'same address but the top-level domain or dots',
            'same local part',
            'another address with the same number'
        )
        or {{ fuzzy_first_name_part_of(a, b) }}
        or {{ fuzzy_first_name_part_of(b, a) }}
    )
)
{%- endif %}
{%- endmacro %}

{#- True when first name b (3 letters or more) is one part of compound first name
    a (Anne-Marie, Jean Paul). -#}
{% macro fuzzy_first_name_part_of(a, b) -%}
(
    length({{ b }}) >= 3
    and (
        {{ a }} like {{ b }} || '-%'
        or {{ a }} like '%-' || {{ b }}
        or {{ a }} like {{ b }} || ' %'
        or {{ a }} like '% ' || {{ b }}
    )
)
{%- endmacro %}
