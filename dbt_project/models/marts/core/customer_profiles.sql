{#- The golden record: one row per person (profile_id).

    Survivorship, per attribute, over the person's source records:
      - email, phone: a valid value first, then the most recently seen, then the
        one most records carry;
      - address (street, city, postcode, country): taken as one block from the
        most recently updated record that has one, so parts never mix;
      - every other attribute: source priority first (var profile_source_priority),
        then the most recently updated record;
    ties always end on the record key, so the result is deterministic.
    First touch (origin) is the earliest interaction in customer_events, with its
    source, channel and UTM tags; a person with no event falls back to the
    earliest source record. -#}
{%- set priority_attributes = [
    'first_name', 'last_name', 'birth_date', 'company', 'job_title',
    'owner_name', 'owner_email', 'preferred_store', 'loyalty_status', 'loyalty_points',
] -%}
{#- the contract's types for attributes whose type varies by source (public contract) -#}
{%- set contract_casts = {'loyalty_points': dbt.type_bigint(), 'birth_date': 'date'} -%}
{%- set address_attributes = ['street', 'city', 'postcode', 'country'] -%}

with resolved as (
    select * from {{ ref('int_profile_ids_resolved') }}
),

person_records as (
    select * from {{ ref('int_person_records') }}
),

screened as (
    select * from {{ ref('int_identifiers_screened') }}
),

events as (
    select * from {{ ref('customer_events') }}
),

profiles as (
    select
        profile_id,
        count(*) as record_count,
        count(distinct source) as source_count
    from resolved
    group by profile_id
),

records as (
    select
        resolved.profile_id,
        resolved.record_key,
        person_records.*,
        {{ profile_source_rank('person_records.source') }} as source_rank,
        case when person_records.source_updated_at is null then 1 else 0 end as updated_is_null
    from person_records
    inner join resolved
        on resolved.source = person_records.source
        and resolved.source_record_id = person_records.source_record_id
),

{% for attribute in priority_attributes %}
{{ attribute }}_ranked as (
    select
        profile_id,
        {{ attribute }} as value,
        row_number() over (
            partition by profile_id
            order by source_rank asc, updated_is_null asc, source_updated_at desc, record_key asc
        ) as value_rank
    from records
    where {{ attribute }} is not null
),

{% endfor %}
address_ranked as (
    select
        profile_id,
        {%- for attribute in address_attributes %}
        {{ attribute }},
        {%- endfor %}
        row_number() over (
            partition by profile_id
            order by updated_is_null asc, source_updated_at desc, source_rank asc, record_key asc
        ) as value_rank
    from records
    where city is not null or postcode is not null or street is not null
),

contact_points as (
    select
        resolved.profile_id,
        screened.identifier_type,
        screened.identifier_value,
        screened.invalid_reason is null and screened.screen_reason is null as is_valid,
        screened.last_observed_at,
        {{ profile_source_rank('screened.source') }} as source_rank,
        screened.record_key
    from screened
    inner join resolved on resolved.record_key = screened.record_key
    where screened.identifier_type in ('email', 'phone')
        and screened.identifier_value is not null
        and coalesce(screened.screen_reason, '') <> 'missing_value'
),

contact_counts as (
    select
        *,
        count(*) over (partition by profile_id, identifier_type, identifier_value) as carried_by_records
    from contact_points
),

contact_ranked as (
    select
        *,
        row_number() over (
            partition by profile_id, identifier_type
            order by
                case when is_valid then 0 else 1 end,
                case when last_observed_at is null then 1 else 0 end,
                last_observed_at desc,
                carried_by_records desc,
                source_rank asc,
                record_key asc,
                identifier_value asc
        ) as value_rank
    from contact_counts
),

touchpoints as (
    select
        profile_id,
        source,
        channel,
        occurred_at,
        {{ ferry_json_text('attributes_json', 'utm_source') }} as utm_source,
        {{ ferry_json_text('attributes_json', 'utm_medium') }} as utm_medium,
        {{ ferry_json_text('attributes_json', 'utm_campaign') }} as utm_campaign,
        0 as fallback_rank,
        event_id as tiebreak
    from events
    where profile_id is not null
        and occurred_at is not null
    union all
    select
        profile_id,
        source,
        cast(null as {{ dbt.type_string() }}) as channel,
        source_updated_at as occurred_at,
        cast(null as {{ dbt.type_string() }}) as utm_source,
        cast(null as {{ dbt.type_string() }}) as utm_medium,
        cast(null as {{ dbt.type_string() }}) as utm_campaign,
        1 as fallback_rank,
        record_key as tiebreak
    from records
    where source_updated_at is not null
),

first_touch_ranked as (
    select
        *,
        row_number() over (
            partition by profile_id
            order by fallback_rank, occurred_at, tiebreak
        ) as touch_rank
    from touchpoints
),

final as (
    select
        profiles.profile_id,
        email.identifier_value as email,
        coalesce(email.is_valid, false) as email_is_valid,
        phone.identifier_value as phone,
        coalesce(phone.is_valid, false) as phone_is_valid,
        {%- for attribute in priority_attributes %}
        {%- if attribute in contract_casts %}
        cast({{ attribute }}_ranked.value as {{ contract_casts[attribute] }}) as {{ attribute }},
        {%- else %}
        {{ attribute }}_ranked.value as {{ attribute }},
        {%- endif %}
        {%- endfor %}
        {%- for attribute in address_attributes %}
        address_ranked.{{ attribute }},
        {%- endfor %}
        first_touch.source as first_touch_source,
        first_touch.channel as first_touch_channel,
        first_touch.utm_source as first_touch_utm_source,
        first_touch.utm_medium as first_touch_utm_medium,
        first_touch.utm_campaign as first_touch_utm_campaign,
        first_touch.occurred_at as first_touch_at,
        profiles.record_count,
        profiles.source_count
    from profiles
    left join contact_ranked as email
        on email.profile_id = profiles.profile_id
        and email.identifier_type = 'email'
        and email.value_rank = 1
    left join contact_ranked as phone
        on phone.profile_id = profiles.profile_id
        and phone.identifier_type = 'phone'
        and phone.value_rank = 1
    {%- for attribute in priority_attributes %}
    left join {{ attribute }}_ranked
        on {{ attribute }}_ranked.profile_id = profiles.profile_id
        and {{ attribute }}_ranked.value_rank = 1
    {%- endfor %}
    left join address_ranked
        on address_ranked.profile_id = profiles.profile_id
        and address_ranked.value_rank = 1
    left join first_touch_ranked as first_touch
        on first_touch.profile_id = profiles.profile_id
        and first_touch.touch_rank = 1
)

{{ without_erased_profiles('final') }}
