{#- The recipient of every SendGrid engagement event as an identifier row, shaped like
    int_identifiers before its final step (source, source_record_id, identifier_type,
    identifier_value, is_valid, invalid_reason, observed_at): union it into
    int_identifiers so int_sendgrid_engagement_events rows map to profiles. -#}

with

events as (

    select * from {{ ref('int_sendgrid_engagement_events') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat(['source', "'|'", 'source_record_id', "'|email'"])) }} as identifier_row_id,
        source,
        source_record_id,
        'email' as identifier_type,
        email as identifier_value,
        email_is_valid as is_valid,
        email_invalid_reason as invalid_reason,
        occurred_at as observed_at
    from events
    where email is not null

)

select * from final
