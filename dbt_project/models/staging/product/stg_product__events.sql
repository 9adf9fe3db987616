{#- A table, not a view, on DuckDB: email/phone validation runs in Python UDFs
    (plugins/ferry_normalize.py) that only dbt's connections register, so a view would
    break every other reader of the warehouse and re-run the UDFs per reader. -#}
{{ config(materialized=ferry_validating_staging_materialization()) }}

with

source as (

    {{ ferry_raw_source('product_events') }}

),

renamed as (

    select
        {{ clean_text('event_id') }} as event_id,
        _loader_id as loader_id,
        {{ clean_text('user_id') }} as user_id,
        lower(event_name) as event_name,
        lower(feature_name) as feature_name,
        cast(occurred_at as timestamp) as occurred_at,
        _loaded_at as loaded_at

    from source

)
,

deduplicated as (

    select
        *,
        {{ is_latest_copy('event_id') }} as is_latest_copy
    from renamed

)

select * from deduplicated
