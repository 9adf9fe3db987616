-- Sales follow-up: a reminder to the owning salesperson one month (var
-- contract_reminder_days) before a prospect's contract with a competitor ends.
-- Internal notification (channel none), once per contract end date. The end date
-- comes from CRM person records (competitor_contract_end_date) or from sales
-- follow-up events.
with record_contracts as (
    select distinct
        identifiers.profile_id,
        records.source_record_id as event_id,
        coalesce(records.source_updated_at, records.source_created_at) as occurred_at,
        records.competitor_contract_end_date as contract_end_date,
        records.competitor_name as competitor
    from {{ ref('int_person_records') }} as records
    inner join {{ ref('customer_identifiers') }} as identifiers
        on identifiers.source = records.source
        and identifiers.source_record_id = records.source_record_id
    where records.competitor_contract_end_date is not null
        and identifiers.profile_id is not null
),

event_contracts as (
    select
        profile_id,
        event_id,
        occurred_at,
        cast(coalesce(
            {{ json_text('attributes_json', 'contract_end_date') }},
            {{ json_text('attributes_json', 'competitor_contract_end_date') }},
            {{ json_text('attributes_json', 'contract_end') }},
            {{ json_text('attributes_json', 'end_date') }}
        ) as date) as contract_end_date,
        coalesce(
            {{ json_text('attributes_json', 'competitor') }},
            {{ json_text('attributes_json', 'competitor_name') }}
        ) as competitor
    from {{ ref('customer_events') }}
    where event_type in {{ event_types_for('competitor_contract') }}
        and occurred_at <= {{ audiences_as_of() }}
),

contracts as (
    select
        profile_id,
        event_id,
        occurred_at,
        contract_end_date,
        competitor
    from record_contracts
    union all
    select
        profile_id,
        event_id,
        occurred_at,
        contract_end_date,
        competitor
    from event_contracts
),

latest as (
    select
        contracts.*,
        row_number()
            over (partition by profile_id order by contract_end_date asc, occurred_at desc, event_id desc)
            as contract_rank
    from contracts
    where contract_end_date > cast({{ audiences_as_of() }} as date)
),

candidates as (
    select
        profile_id,
        contract_end_date,
        competitor
    from latest
    where contract_rank = 1
        and contract_end_date
        <= cast({{ dbt.dateadd('day', var('contract_reminder_days', 30) | int, audiences_as_of()) }} as date)
),

eligible as (
    select candidates.*
    from candidates
    where {{ audience_eligible('none', 'candidates.profile_id') }}
),

final as (
    select
        {{ dbt.concat([
            'eligible.profile_id', "':'", dbt.safe_cast('eligible.contract_end_date', dbt.type_string()),
        ]) }} as notification_key,
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_contract_renewal_reminder') }} as variant,
        scores.owner_email,
        scores.owner_name,
        profiles.first_name,
        profiles.last_name,
        profiles.company,
        eligible.competitor,
        eligible.contract_end_date,
        scores.lifecycle_stage
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    inner join {{ ref('customer_scores') }} as scores
        on scores.profile_id = eligible.profile_id
    where scores.owner_email is not null
)

select * from final
