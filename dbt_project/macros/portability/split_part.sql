{#- dbt.split_part on Spark, overriding dbt-spark's spark__split_part (macros in the root
    project come first when dbt dispatches its own macros).

    Why: dbt-spark splits with split(string, regex) and escapes the delimiter by
    prefixing the literal '\\'. Ferry runs Spark with
    spark.sql.parser.escapedStringLiterals on (profiles.yml: backslashes stay literal,
    as on DuckDB and PostgreSQL), where that literal is two backslashes: the regex then
    asks for a backslash before the delimiter, nothing splits, and 'shop:1000' kept its
    system prefix. Spark's own split_part (3.3+) takes the delimiter as plain text and
    counts parts from 1, negative from the end, like PostgreSQL's and DuckDB's. -#}
{% macro spark__split_part(string_text, delimiter_text, part_number) -%}
    split_part({{ string_text }}, {{ delimiter_text }}, {{ part_number }})
{%- endmacro %}
