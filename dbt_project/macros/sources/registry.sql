{#- The source registry (var `ferry_sources`, dbt_project.yml) read by every model that
    unions sources. One entry per raw table, keyed by the name the records carry in
    `source` (crm_contacts, shop_orders...). The keys an entry may hold are documented
    in docs/sources.md (generated from this registry by `ferry sources docs`). -#}

{% macro ferry_sources() -%}
    {{ return(var('ferry_sources', {})) }}
{%- endmacro %}

{#- The system a source belongs to (crm_contacts -> crm): its `system` key, else the
    part of its name before the first underscore. -#}
{% macro ferry_source_system(name) -%}
    {%- set entry = ferry_sources()[name] -%}
    {{ return(entry.get('system') or name.split('_')[0]) }}
{%- endmacro %}

{#- Sources whose records feed the unions: every entry except those that only hand
    ready-made union rows (engagement landed by Ferry's connectors). -#}
{% macro ferry_record_sources() -%}
    {%- set names = [] -%}
    {%- for name, entry in ferry_sources().items() if entry.get('relation') -%}
        {%- do names.append(name) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}

{#- schema and table of the entry's raw relation ('raw.crm_contacts'). -#}
{% macro ferry_raw_parts(name) -%}
    {%- set parts = ferry_sources()[name]['relation'].split('.') -%}
    {%- if parts | length != 2 -%}
        {%- do exceptions.raise_compiler_error(
            "ferry_sources." ~ name ~ ".relation must be 'schema.table', got '" ~ ferry_sources()[name]['relation'] ~ "'") -%}
    {%- endif -%}
    {{ return(parts) }}
{%- endmacro %}

{#- The raw relation as it exists in the warehouse, or none when it was never landed. -#}
{% macro ferry_raw_relation_if_present(name) -%}
    {%- set parts = ferry_raw_parts(name) -%}
    {{ return(adapter.get_relation(database=target.database, schema=parts[0], identifier=parts[1])) }}
{%- endmacro %}

{#- The registry's raw contract of a source: [(column, type family, optional)], loader
    columns (_loader_id, _loaded_at) last and always optional. A contract type is
    text | integer | number | boolean | date | timestamp, optionally followed by
    ' optional' (the column may be absent: it is then read as null without error). -#}
{% macro ferry_raw_contract(name) -%}
    {%- set contract = [] -%}
    {%- for column, declared in (ferry_sources()[name].get('columns') or {}).items() -%}
        {%- set words = declared.split() -%}
        {%- do contract.append((column, words[0], 'optional' in words)) -%}
    {%- endfor -%}
    {%- do contract.append(('_loader_id', 'text', true)) -%}
    {%- do contract.append(('_loaded_at', 'timestamp', true)) -%}
    {{ return(contract) }}
{%- endmacro %}

{#- Warehouse type for a contract type family. -#}
{% macro ferry_contract_sql_type(family) -%}
    {%- set types = {
        'text': dbt.type_string(), 'integer': dbt.type_bigint(), 'number': dbt.type_numeric(),
        'boolean': dbt.type_boolean(), 'date': 'date', 'timestamp': dbt.type_timestamp(),
    } -%}
    {%- if family not in types -%}
        {%- do exceptions.raise_compiler_error("unknown contract type '" ~ family ~ "' (text, integer, number, boolean, date, timestamp)") -%}
    {%- endif -%}
    {{ return(types[family]) }}
{%- endmacro %}

{#- The contract type family a warehouse column type belongs to (none: unknown). -#}
{% macro ferry_type_family(data_type) -%}
    {%- set t = data_type | lower -%}
    {%- if t.startswith('timestamp') or t.startswith('datetime') -%}{{ return('timestamp') }}
    {%- elif t == 'date' -%}{{ return('date') }}
    {%- elif t in ('boolean', 'bool') -%}{{ return('boolean') }}
    {%- elif t in ('integer', 'int', 'int2', 'int4', 'int8', 'bigint', 'smallint', 'tinyint', 'hugeint', 'ubigint', 'uinteger', 'usmallint', 'utinyint', 'long', 'short') -%}{{ return('integer') }}
    {%- elif t.startswith('decimal') or t.startswith('numeric') or t in ('double', 'double precision', 'float', 'float4', 'float8', 'real') -%}{{ return('number') }}
    {%- elif t.startswith('varchar') or t.startswith('character') or t.startswith('char') or t in ('text', 'string') -%}{{ return('text') }}
    {%- else -%}{{ return(none) }}
    {%- endif -%}
{%- endmacro %}

{#- Does a found type family satisfy the declared one? An integer is a number;
    timestamps may be landed as ISO-8601 text (staging parses them). -#}
{% macro ferry_type_accepts(declared, found) -%}
    {{ return(found == declared
        or (declared == 'number' and found == 'integer')
        or (declared == 'timestamp' and found == 'text')) }}
{%- endmacro %}

{#- Every contract problem of one source as a list of readable lines: a missing
    column, a column of another type. An absent raw table is no problem (the source
    is optional); it is reported by the caller. -#}
{% macro ferry_raw_contract_problems(name, relation) -%}
    {%- set found = {} -%}
    {%- for col in adapter.get_columns_in_relation(relation) -%}
        {%- do found.update({col.name | lower: col.dtype}) -%}
    {%- endfor -%}
    {%- set problems = [] -%}
    {%- for column, family, optional in ferry_raw_contract(name) -%}
        {%- if column | lower not in found -%}
            {%- if not optional -%}
                {%- do problems.append(relation.schema ~ '.' ~ relation.identifier ~ ': missing column ' ~ column ~ ' (' ~ family ~ ')') -%}
            {%- endif -%}
        {%- else -%}
            {%- set got = ferry_type_family(found[column | lower]) -%}
            {%- if not ferry_type_accepts(family, got) -%}
                {%- do problems.append(relation.schema ~ '.' ~ relation.identifier ~ ': column ' ~ column ~ ' is ' ~ found[column | lower] ~ ', expected ' ~ family) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(problems) }}
{%- endmacro %}

{#- The raw rows of a source for its staging model, whatever was landed:
    - the table is absent: one line in the build log and an empty relation with the
      contract's columns, so everything downstream builds from the other sources;
    - a contract column is absent: a warning naming it, and the column reads as null
      (the raw_contracts test fails the build with the same message);
    - _loader_id / _loaded_at absent: derived (a hash of the row, the build time).
    Staging models call it in place of `select * from source(...)`; `source_args` are
    the dbt source's (name, table), derived from the entry's name when omitted
    (crm_contacts -> ('crm', 'contacts')). -#}
{% macro ferry_raw_source(name, source_args=none) -%}
    {%- set system = ferry_source_system(name) -%}
    {%- if source_args is none -%}
        {%- set source_args = (system, name[system | length + 1:]) -%}
    {%- endif -%}
    {%- set src = source(source_args[0], source_args[1]) -%}
    {#- parse time, and dbt unit tests (their given rows stand in for the source as a
        CTE), read the source as it is -#}
    {%- if not execute or model.resource_type == 'unit_test' or (src | string).startswith('__dbt__cte__') -%}
        select * from {{ src }}
    {%- else -%}
        {{ ferry_raw_select(name, load_relation(src), announce=true) }}
    {%- endif -%}
{%- endmacro %}

{#- The select behind ferry_raw_source, for any relation (or none). -#}
{% macro ferry_raw_select(name, relation, announce=false) -%}
    {%- set contract = ferry_raw_contract(name) -%}
    {%- if relation is none -%}
        {%- if announce -%}
            {%- do log('source ' ~ ferry_source_system(name) ~ ': ' ~ ferry_sources()[name]['relation'] ~ ' not found, skipped', info=true) -%}
        {%- endif -%}
        select
        {%- for column, family, optional in contract %}
            cast(null as {{ ferry_contract_sql_type(family) }}) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0
    {%- else -%}
        {%- set found = [] -%}
        {%- for col in adapter.get_columns_in_relation(relation) -%}
            {%- do found.append(col.name | lower) -%}
        {%- endfor -%}
        {%- set missing = [] -%}
        {%- for column, family, optional in contract if column | lower not in found -%}
            {%- do missing.append((column, family, optional)) -%}
            {%- if announce and not optional -%}
                {%- do log('source ' ~ ferry_source_system(name) ~ ': ' ~ ferry_sources()[name]['relation'] ~ ' has no column ' ~ column ~ ' (' ~ family ~ '), read as null; see `ferry sources check`', info=true) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if not missing -%}
        select * from {{ relation }}
        {%- else -%}
        select
            raw_rows.*
            {%- for column, family, optional in missing %}
            {%- if column == '_loader_id' %},
            {{ dbt.hash(ferry_row_text(found)) }} || '-' || cast(row_number() over (partition by {{ ferry_row_text(found) }} order by {{ found[0] }}) as {{ dbt.type_string() }}) as _loader_id
            {%- elif column == '_loaded_at' %},
            cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }}) as _loaded_at
            {%- else %},
            cast(null as {{ ferry_contract_sql_type(family) }}) as {{ column }}
            {%- endif %}
            {%- endfor %}
        from {{ relation }} as raw_rows
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- One text of a whole raw row (derived loader ids): every column, nulls as ''. -#}
{% macro ferry_row_text(columns) -%}
    {%- set parts = [] -%}
    {%- for c in columns -%}
        {%- do parts.append("coalesce(cast(" ~ c ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last -%}{%- do parts.append("'\x1f'") -%}{%- endif -%}
    {%- endfor -%}
    {{ return(dbt.concat(parts)) }}
{%- endmacro %}

{#- True when a test's raw relation, or its column, has not been landed (yet): the
    *_once_landed tests (tests/generic/once_landed.sql) then check nothing. -#}
{% macro ferry_not_landed(model, column_name) -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set relation = load_relation(model) -%}
    {%- if relation is none -%}{{ return(true) }}{%- endif -%}
    {%- if column_name is not none and column_name.isidentifier() -%}
        {%- for col in adapter.get_columns_in_relation(relation) if col.name | lower == column_name | lower -%}
            {{ return(false) }}
        {%- endfor -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(false) }}
{%- endmacro %}

{#- Per customer-id namespace, its kind from the registry: 'account_id' (one person
    never holds two: a shop login) or 'record_id' (rows of one system may duplicate
    each other: CRM contacts). Default account_id. For the identity guards, which
    refuse to merge two ids of one system only when they are account ids. A namespace
    declared with both kinds is an error. -#}
{% macro ferry_customer_id_kinds() -%}
    {%- set kinds = {} -%}
    {%- for name, entry in ferry_sources().items() -%}
        {%- for ident in entry.get('identifiers') or [] if ident['type'] == 'customer_id' -%}
            {%- set namespace = ident.get('namespace') or ferry_source_system(name) -%}
            {%- set kind = ident.get('kind') or 'account_id' -%}
            {%- if kinds.get(namespace, kind) != kind -%}
                {%- do exceptions.raise_compiler_error("ferry_sources: customer id namespace '" ~ namespace ~ "' is declared both account_id and record_id (" ~ name ~ ")") -%}
            {%- endif -%}
            {%- do kinds.update({namespace: kind}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(kinds) }}
{%- endmacro %}

{#- The customer-id namespaces of kind record_id (ferry_customer_id_kinds), sorted. -#}
{% macro ferry_record_id_namespaces() -%}
    {%- set namespaces = [] -%}
    {%- for namespace, kind in ferry_customer_id_kinds().items() if kind == 'record_id' -%}
        {%- do namespaces.append(namespace) -%}
    {%- endfor -%}
    {{ return(namespaces | sort) }}
{%- endmacro %}
