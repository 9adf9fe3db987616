{#- Raw contracts: each present raw table against its registry entry (columns and
    types). Absent tables are not errors (every source is optional). -#}

{#- [(source, line)] of every contract problem, and the sources found / absent. -#}
{% macro ferry_raw_contract_report() -%}
    {%- set report = {'problems': [], 'checked': [], 'absent': []} -%}
    {%- for name in ferry_record_sources() -%}
        {%- set relation = ferry_raw_relation_if_present(name) -%}
        {%- if relation is none -%}
            {%- do report['absent'].append(name) -%}
        {%- else -%}
            {%- do report['checked'].append(name) -%}
            {%- for line in ferry_raw_contract_problems(name, relation) -%}
                {%- do report['problems'].append('source ' ~ name ~ ': ' ~ line) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(report) }}
{%- endmacro %}

{#- `dbt run-operation ferry_check_sources` (what `ferry sources check` runs): one line
    per source, every missing or mistyped column named; fails when any. -#}
{% macro ferry_check_sources() -%}
    {%- set report = ferry_raw_contract_report() -%}
    {%- for name in report['checked'] -%}
        {%- set own = [] -%}
        {%- for line in report['problems'] if line.startswith('source ' ~ name ~ ':') -%}{%- do own.append(line) -%}{%- endfor -%}
        {%- if not own -%}
            {%- do print('ok      ' ~ name ~ ': ' ~ ferry_sources()[name]['relation'] ~ ' matches its contract') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name in report['absent'] -%}
        {%- do print('absent  ' ~ name ~ ': ' ~ ferry_sources()[name]['relation'] ~ ' not found (optional: skipped by the build)') -%}
    {%- endfor -%}
    {%- set kinds = [] -%}
    {%- for namespace, kind in ferry_customer_id_kinds().items() -%}
        {%- do kinds.append(namespace ~ ' ' ~ kind) -%}
    {%- endfor -%}
    {%- do print('ids     customer id kinds: ' ~ kinds | join(', ')) -%}
    {%- for line in report['problems'] -%}
        {%- do print('ERROR   ' ~ line) -%}
    {%- endfor -%}
    {%- if report['problems'] -%}
        {%- do exceptions.raise_compiler_error(report['problems'] | length ~ ' raw contract problem(s):\n' ~ report['problems'] | join('\n')) -%}
    {%- endif -%}
{%- endmacro %}

{#- Body of the raw_contracts data test: no rows when every present raw table holds its
    contract; otherwise the test errors with every problem named (a compilation error
    carries the names into the build log, where a failing row count would not). -#}
{% macro ferry_raw_contracts_test() -%}
    {%- if execute -%}
        {%- set report = ferry_raw_contract_report() -%}
        {%- if report['problems'] -%}
            {%- do exceptions.raise_compiler_error('raw contract broken (`ferry sources check` lists it; docs/sources.md has each contract):\n' ~ report['problems'] | join('\n')) -%}
        {%- endif -%}
    {%- endif -%}
    select 1 as contract_problem where 1 = 0
{%- endmacro %}
