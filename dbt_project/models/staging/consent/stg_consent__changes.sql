with

source as (

    select * from {{ source('consent', 'changes') }}

),

renamed as (

    select
        {{ clean_text('change_id') }} as change_id,
        _loader_id as loader_id,
        {{ email_fields('email') }},
        {{ phone_fields('phone') }},
        lower(channel) as channel,
        lower(action) as action,
        lower(action) = 'subscribed' as is_consented,
        lower(source_system) as source_system,
        {{ iso_to_utc('changed_at') }} as changed_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
