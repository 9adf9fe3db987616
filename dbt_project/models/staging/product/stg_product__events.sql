with

source as (

    select * from {{ source('product', 'events') }}

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

select * from renamed
