with

source as (

    select * from {{ source('consent', 'erasure_requests') }}

),

renamed as (

    select
        {{ clean_text('request_id') }} as request_id,
        _loader_id as loader_id,
        {{ email_fields('email') }},
        {{ phone_fields('phone') }},
        cast(requested_at as timestamp) as requested_at,
        lower(status) as status,
        _loaded_at as loaded_at

    from source

)

select * from renamed
