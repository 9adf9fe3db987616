{#- Key tests for raw tables that Ferry's own landing creates on first use
    (connectors/engagement_store.py: raw.sendgrid_*, raw.twilio_*). Until something
    has landed the table does not exist: the test then checks nothing (as the staging
    models read an empty relation) instead of failing a fresh warehouse's `dbt build`.
    Once the table exists they are dbt's own unique / not_null tests. -#}

{% test unique_once_landed(model, column_name) %}
    {%- if execute and load_relation(model) is none -%}
        select 1 as not_landed_yet where 1 = 0
    {%- else -%}
        {{ adapter.dispatch('test_unique', 'dbt')(model, column_name) }}
    {%- endif -%}
{% endtest %}

{% test not_null_once_landed(model, column_name) %}
    {%- if execute and load_relation(model) is none -%}
        select 1 as not_landed_yet where 1 = 0
    {%- else -%}
        {{ adapter.dispatch('test_not_null', 'dbt')(model, column_name) }}
    {%- endif -%}
{% endtest %}
