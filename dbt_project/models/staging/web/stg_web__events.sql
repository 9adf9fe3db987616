{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('web_events') }}

),

renamed as (

    select
        {{ clean_text('event_id') }} as event_id,
        _loader_id as loader_id,
        {{ clean_text('anonymous_id') }} as anonymous_id,
        case
            when {{ clean_text('anonymous_id') }} is null then 'missing'
            when lower({{ clean_text('anonymous_id') }}) in ('null', 'undefined', 'anonymous', 'none', '0') then 'placeholder'
        end as anonymous_id_invalid_reason,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        {{ email_fields('email') }},
        lower(event_type) as event_type,
        page_path,
        lower(page_category) as page_category,
        lower(utm_source) as utm_source,
        lower(utm_medium) as utm_medium,
        lower(utm_campaign) as utm_campaign,
        referrer,
        lower(device_type) as device_type,
        {{ epoch_ms_to_utc('sent_at_ms') }} as occurred_at,
        _loaded_at as loaded_at

    from source

),

flagged as (

    select
        *,
        anonymous_id_invalid_reason is null as anonymous_id_is_valid
    from renamed

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('event_id') }} as is_latest_copy
    from flagged

)

select * from deduplicated
