{#- dbt's get_fixture_sql (dbt-core 1.11, macros/unit_test_sql/get_fixture_sql.sql),
    overridden by name so that a unit test whose input is a raw source still runs when
    that raw table was never landed (every source is optional) or lacks a column: the
    fixture's missing column types come from the source registry's contract.
    Everything else is dbt's macro as it is. -#}
{% macro get_fixture_sql(rows, column_name_to_data_types) %}
-- Fixture for {{ model.name }}
{% set default_row = {} %}
{%- set column_name_to_quoted = {} -%}

{%- if not column_name_to_data_types -%}
{%-   set this_or_defer_relation = defer_relation if (defer_relation and not load_relation(this)) else this -%}
{%-   set columns_in_relation = adapter.get_columns_in_relation(this_or_defer_relation) -%}
{%-   set column_name_to_data_types = {} -%}
{%-   for column in columns_in_relation -%}
{%-     do column_name_to_data_types.update({column.name|lower: column.data_type}) -%}
{%-     do column_name_to_quoted.update({column.name|lower: column.quoted}) -%}
{%-   endfor -%}
{#-   Ferry: contract columns the landed table lacks (or all of them, no table) -#}
{%-   for name, entry in ferry_sources().items() if entry.get('relation') == this.schema ~ '.' ~ this.identifier -%}
{%-     for column, family, optional in ferry_raw_contract(name) if column | lower not in column_name_to_data_types -%}
{%-       do column_name_to_data_types.update({column | lower: ferry_contract_sql_type(family)}) -%}
{%-       do column_name_to_quoted.update({column | lower: adapter.quote(column)}) -%}
{%-     endfor -%}
{%-   endfor -%}
{%- endif -%}

{%- if not column_name_to_data_types -%}
    {{ exceptions.raise_compiler_error("Not able to get columns for unit test '" ~ model.name ~ "' from relation " ~ this ~ " because the relation doesn't exist") }}
{%- endif -%}

{%- for column_name, column_type in column_name_to_data_types.items() -%}
    {%- do default_row.update({column_name: (safe_cast("null", column_type) | trim )}) -%}
{%- endfor -%}

{{ validate_fixture_rows(rows, row_number) }}

{%- for row in rows -%}
{%-   set formatted_row = format_row(row, column_name_to_data_types) -%}
{%-   set default_row_copy = default_row.copy() -%}
{%-   do default_row_copy.update(formatted_row) -%}
select
{%-   for column_name, column_value in default_row_copy.items() %} {{ column_value }} as {{ column_name_to_quoted[column_name] }}{% if not loop.last -%}, {%- endif %}
{%-   endfor %}
{%-   if not loop.last %}
union all
{%    endif %}
{%- endfor -%}

{%- if (rows | length) == 0 -%}
    select
    {%- for column_name, column_value in default_row.items() %} {{ column_value }} as {{ column_name_to_quoted[column_name] }}{% if not loop.last -%},{%- endif %}
    {%- endfor %}
    limit 0
{%- endif -%}
{% endmacro %}
