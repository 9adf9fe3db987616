{#- True when two national ids are one slip of the keyboard apart (a character
    mistyped, dropped, added, or two neighbours swapped): the same person's number
    typed again. The same SQL on every warehouse, so a pair is decided alike
    everywhere: for each position i up to max_length (national ids are at most 20
    characters, see national_id_invalid_reason), the two values with position i
    taken out agree (one substitution), one with its i-th and (i+1)-th characters
    swapped equals the other (a transposition), or the longer with position i taken
    out equals the shorter (an insertion). Longer values agree only when equal. -#}
{% macro ferry_one_edit_apart(a, b, max_length=20) -%}
    ({{ a }} = {{ b }} or (
        {{ dbt.length(a) }} <= {{ max_length }} and {{ dbt.length(b) }} <= {{ max_length }} and (
        {%- for i in range(1, max_length + 1) %}
            {{ '' if loop.first else 'or ' }}({{ dbt.length(a) }} = {{ dbt.length(b) }} and (
                {{ _without(a, i) }} = {{ _without(b, i) }}
                or {{ _swapped(a, i) }} = {{ b }}))
            or ({{ dbt.length(a) }} = {{ dbt.length(b) }} + 1 and {{ _without(a, i) }} = {{ b }})
            or ({{ dbt.length(b) }} = {{ dbt.length(a) }} + 1 and {{ _without(b, i) }} = {{ a }})
        {%- endfor %}
    )))
{%- endmacro %}

{% macro _without(value, i) -%}
    (substr({{ value }}, 1, {{ i - 1 }}) || substr({{ value }}, {{ i + 1 }}))
{%- endmacro %}

{% macro _swapped(value, i) -%}
    (substr({{ value }}, 1, {{ i - 1 }}) || substr({{ value }}, {{ i + 1 }}, 1)
    || substr({{ value }}, {{ i }}, 1) || substr({{ value }}, {{ i + 2 }}))
{%- endmacro %}
