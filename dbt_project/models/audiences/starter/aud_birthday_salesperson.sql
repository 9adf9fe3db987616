-- Birthday notice to the customer's salesperson, var birthday_notice_days (7)
-- ahead, once per birthday. Internal notification (channel none).
with scores as (
    select * from {{ ref('customer_scores') }}
),

candidates as (
    select
        profile_id,
        owner_email,
        owner_name,
        next_birthday,
        days_until_birthday,
        loyalty_status,
        preferred_store
    from scores
    where owner_email is not null
        and next_birthday is not null
        and days_until_birthday between 0 and {{ var('birthday_notice_days', 7) | int }}
),

eligible as (
    select candidates.*
    from candidates
    where {{ audience_eligible('none', 'candidates.profile_id') }}
),

final as (
    select
        {{ dbt.concat([
            'eligible.profile_id', "':'", dbt.safe_cast('eligible.next_birthday', dbt.type_string())
        ]) }} as notification_key,
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_birthday_salesperson') }} as variant,
        eligible.owner_email,
        eligible.owner_name,
        profiles.first_name,
        profiles.last_name,
        eligible.next_birthday,
        eligible.days_until_birthday,
        eligible.loyalty_status,
        eligible.preferred_store
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
)

select * from final
