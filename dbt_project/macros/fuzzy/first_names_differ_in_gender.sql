{#- True when two first names (lowercased, trimmed SQL expressions) are the
    masculine and feminine forms of one name rather than one name typed twice:
    Alexandre / Alexandra, Mario / Maria (another final a, e or o), Louis /
    Louise, Paul / Paula (an e or a added), Daniel / Danielle, Jean / Jeanne (the
    last consonant doubled, then e). The Splink name comparison scores them as a
    one-letter typo; two such records of one family or one employer are two
    people as often as one, so the pair goes to review (first_name_gender_differs)
    instead of merging on its score. A real typo of a name's last letter is held
    back with them: the review queue, not a refusal. -#}
{% macro fuzzy_first_names_differ_in_gender(a, b) -%}
(
    {{ a }} <> {{ b }}
    and length({{ a }}) >= 3
    and length({{ b }}) >= 3
    and (
        (
            length({{ a }}) = length({{ b }})
            and substr({{ a }}, 1, length({{ a }}) - 1) = substr({{ b }}, 1, length({{ b }}) - 1)
            and substr({{ a }}, length({{ a }}), 1) in ('a', 'e', 'o')
            and substr({{ b }}, length({{ b }}), 1) in ('a', 'e', 'o')
        )
        or {{ b }} in ({{ a }} || 'e', {{ a }} || 'a', {{ a }} || substr({{ a }}, length({{ a }}), 1) || 'e')
        or {{ a }} in ({{ b }} || 'e', {{ b }} || 'a', {{ b }} || substr({{ b }}, length({{ b }}), 1) || 'e')
    )
)
{%- endmacro %}


{#- True when a first name is a slip of the keyboard rather than the other
    gender's form of a name: nobody else carries it ('Sandr', 'Rit': people_a,
    counted in people, is 1) while the name it is a slip of is carried by several
    people (people_b >= 3: 'Sandra'). Where both names are rare (a small file, an
    unusual name) the gender rule still holds: the review queue decides. -#}
{% macro fuzzy_first_name_slip(people_a, people_b) -%}
(coalesce({{ people_a }}, 0) <= 1 and coalesce({{ people_b }}, 0) >= 3)
{%- endmacro %}
