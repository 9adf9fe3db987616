-- One row per profile: contactable_<channel> (consent, no suppression, under the
-- pressure cap) and the current pressure, pivoted from marketing_pressure for the
-- sync engine's policies and for audiences.
with pressure as (
    select * from {{ ref('marketing_pressure') }}
),

final as (
    select
        profile_id,
        max(case when channel = 'email' and is_contactable then 1 else 0 end) = 1 as contactable_email,
        max(case when channel = 'email' then pressure end) as pressure_email,
        max(case when channel = 'email' then suppression_reason end) as suppression_reason_email,
        max(case when channel = 'sms' and is_contactable then 1 else 0 end) = 1 as contactable_sms,
        max(case when channel = 'sms' then pressure end) as pressure_sms,
        max(case when channel = 'sms' then suppression_reason end) as suppression_reason_sms,
        max(case when channel = 'ads' and is_contactable then 1 else 0 end) = 1 as contactable_ads,
        max(case when channel = 'ads' then pressure end) as pressure_ads,
        max(case when channel = 'ads' then suppression_reason end) as suppression_reason_ads
    from pressure
    group by profile_id
)

select * from final
