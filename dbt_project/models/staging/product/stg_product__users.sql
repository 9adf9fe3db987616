with

source as (

    select * from {{ source('product', 'users') }}

),

renamed as (

    select
        {{ clean_text('user_id') }} as user_id,
        _loader_id as loader_id,
        {{ email_fields('email') }},
        {{ clean_text('full_name') }} as full_name,
        {{ clean_text('company') }} as company,
        lower(plan) as plan,
        cast(signed_up_at as timestamp) as signed_up_at,
        cast(trial_ends_at as timestamp) as trial_ends_at,
        _loaded_at as loaded_at

    from source

),

split_names as (

    select
        *,
        nullif(split_part(full_name, ' ', 1), '') as first_name,
        nullif(trim(substr(full_name, length(split_part(full_name, ' ', 1)) + 2)), '') as last_name
    from renamed

)

select * from split_names
