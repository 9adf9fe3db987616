{#- The recipient of every Twilio engagement event as an identifier row, shaped like
    int_identifiers before its final step (source, source_record_id, identifier_type,
    identifier_value, is_valid, invalid_reason, observed_at): union it into
    int_identifiers so int_twilio_engagement_events rows map to profiles. -#}

with

events as (

    select * from {{ ref('int_twilio_engagement_events') }}

),

final as (

    select
        {{ dbt.hash(dbt.concat(['source', "'|'", 'source_record_id', "'|phone'"])) }} as identifier_row_id,
        source,
        source_record_id,
        'phone' as identifier_type,
        phone as identifier_value,
        phone_is_valid as is_valid,
        phone_invalid_reason as invalid_reason,
        occurred_at as observed_at
    from events
    where phone is not null

)

select * from final
