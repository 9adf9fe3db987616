{#- int_fuzzy_links on every adapter but DuckDB: the same columns, no pairs.

    Why a stand-in: the real model (../int_fuzzy_links.py) is a dbt-duckdb Python
    model running Splink on an in-memory DuckDB; dbt-postgres has no Python models
    and dbt-spark's session mode none that could load Splink's DuckDB backend. It is
    disabled off DuckDB in dbt_project.yml and this file takes its name, so the
    fuzzy chain downstream (decisions, edges, review queue) builds everywhere and
    contributes no fuzzy edges: identity is then deterministic only. Columns follow
    identity/fuzzy/scoring.py (_explain_sql), one gamma/level/weight
    triple per comparison of model_spec.COMPARISON_NAMES. See docs/engines.md. -#}
{{ config(enabled=not ferry_fuzzy_matching_in_warehouse()) }}

{%- set comparisons = ['name', 'birth_date', 'address', 'email', 'phone', 'employer'] %}

with no_pairs as (
    select
        cast(null as {{ dbt.type_string() }}) as source_a,
        cast(null as {{ dbt.type_string() }}) as source_record_id_a,
        cast(null as {{ dbt.type_string() }}) as source_b,
        cast(null as {{ dbt.type_string() }}) as source_record_id_b,
        cast(null as {{ ferry_type_double() }}) as match_probability,
        cast(null as {{ ferry_type_double() }}) as match_weight,
        {%- for name in comparisons %}
        cast(null as {{ dbt.type_int() }}) as gamma_{{ name }},
        cast(null as {{ dbt.type_string() }}) as {{ name }}_level,
        cast(null as {{ ferry_type_double() }}) as {{ name }}_weight,
        {%- endfor %}
        cast(null as {{ dbt.type_string() }}) as contradiction,
        cast(null as {{ dbt.type_string() }}) as explanation_json,
        cast(null as {{ dbt.type_string() }}) as model_version
),

final as (
    select * from no_pairs where 1 = 0
)

select * from final
