with

source as (

    select * from {{ source('support', 'surveys') }}

),

renamed as (

    select
        {{ clean_text('survey_response_id') }} as survey_response_id,
        _loader_id as loader_id,
        {{ clean_text('ticket_id') }} as ticket_id,
        {{ clean_text('requester_id') }} as requester_id,
        {{ email_fields('respondent_email', 'email') }},
        lower(survey_type) as survey_type,
        score,
        comment,
        {{ iso_to_utc('submitted_at') }} as submitted_at,
        _loaded_at as loaded_at

    from source

)

select * from renamed
