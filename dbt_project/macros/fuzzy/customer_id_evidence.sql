{#- The account ids each record of `records` (a CTE of source,
    source_record_id) holds or reaches: its own, and those its valid e-mails
    and phones lead to (one hop of the deterministic graph; a value leading to
    more than fuzzy_guard_max_customer_ids ids is a hub and ignored; var
    fuzzy_guard_one_hop: false keeps own ids only). Emits the CTEs up to
    `evidence_customer_ids` (source, source_record_id, customer_id,
    customer_system), for the fuzzy guards to compare two sides with.
    Only account ids count (namespaces of kind account_id in the source registry,
    macro ferry_customer_id_kinds; a namespace it does not declare counts as one):
    two record ids of one system (CRM contacts) are rows that may duplicate each
    other, so holding two of them is no evidence of two people. -#}
{% macro fuzzy_customer_id_evidence(records) -%}
{%- set record_namespaces = ferry_record_id_namespaces() -%}
identifiers as (
    select
        source,
        source_record_id,
        identifier_type,
        identifier_value
    from {{ ref('int_identifiers') }}
    where identifier_value is not null
        and coalesce(is_valid, true)
        -- the only types read below: anonymous ids, half the occurrences at scale,
        -- never reach the CTE that several steps re-read
        and identifier_type in ('customer_id', 'email', 'phone')
),

customer_ids as (
    select distinct
        source,
        source_record_id,
        identifier_value as customer_id,
        {{ dbt.split_part('identifier_value', "':'", 1) }} as customer_system
    from identifiers
    where identifier_type = 'customer_id'
    {%- if record_namespaces %}
        and {{ dbt.split_part('identifier_value', "':'", 1) }} not in (
            {%- for namespace in record_namespaces %}'{{ namespace }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        )
    {%- endif %}
),

candidate_contacts as (
    select distinct
        identifiers.source,
        identifiers.source_record_id,
        identifiers.identifier_type,
        identifiers.identifier_value
    from identifiers
    inner join {{ records }}
        on {{ records }}.source = identifiers.source
        and {{ records }}.source_record_id = identifiers.source_record_id
    where identifiers.identifier_type in ('email', 'phone')
),

wanted_contacts as (
    select distinct identifier_type, identifier_value from candidate_contacts
),

{#- which customer ids each wanted e-mail/phone value leads to: small, one row
    per (value, customer id), however many orders or events repeat the value -#}
contact_customer_ids as (
    select distinct
        contacts.identifier_type,
        contacts.identifier_value,
        customer_ids.customer_id,
        customer_ids.customer_system
    from identifiers as contacts
    inner join wanted_contacts
        on wanted_contacts.identifier_type = contacts.identifier_type
        and wanted_contacts.identifier_value = contacts.identifier_value
    inner join customer_ids
        on customer_ids.source = contacts.source
        and customer_ids.source_record_id = contacts.source_record_id
),

{#- a value leading to many customer ids is a hub (shared or junk): no evidence -#}
small_contacts as (
    select identifier_type, identifier_value
    from contact_customer_ids
    group by identifier_type, identifier_value
    having count(*) <= {{ var('fuzzy_guard_max_customer_ids', 10) }}
),

own_customer_ids as (
    select
        customer_ids.source,
        customer_ids.source_record_id,
        customer_ids.customer_id,
        customer_ids.customer_system
    from customer_ids
    inner join {{ records }}
        on {{ records }}.source = customer_ids.source
        and {{ records }}.source_record_id = customer_ids.source_record_id
),

reached_customer_ids as (
    select distinct
        candidate_contacts.source,
        candidate_contacts.source_record_id,
        contact_customer_ids.customer_id,
        contact_customer_ids.customer_system
    from candidate_contacts
    inner join small_contacts
        on small_contacts.identifier_type = candidate_contacts.identifier_type
        and small_contacts.identifier_value = candidate_contacts.identifier_value
    inner join contact_customer_ids
        on contact_customer_ids.identifier_type = candidate_contacts.identifier_type
        and contact_customer_ids.identifier_value = candidate_contacts.identifier_value
    {%- if not var('fuzzy_guard_one_hop', true) %}
    where 1 = 0
    {%- endif %}
),

evidence_customer_ids as (
    select source, source_record_id, customer_id, customer_system from own_customer_ids
    union
    select source, source_record_id, customer_id, customer_system from reached_customer_ids
)
{%- endmacro %}
