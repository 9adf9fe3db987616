{#- One timeline row per interaction, every source with `events` in the source
    registry (var ferry_sources: orders and purchased products, abandoned carts, web
    behaviour, support tickets and surveys, form sign-ups, product usage, consent
    changes, erasure requests) and the engagement pulled back from the tools.
    event_id is '<source>:<source_record_id>' (unique across sources); details that
    differ by source go into attributes_json. -#}

with

{{ ferry_events_ctes() }},

final as (

    select
        {{ dbt.concat(['source', "':'", 'source_record_id']) }} as event_id,
        source,
        {{ dbt.split_part('source', "'_'", 1) }} as source_system,
        source_record_id,
        event_type,
        channel,
        occurred_at,
        category,
        amount,
        attributes_json
    from unioned

)

select * from final
