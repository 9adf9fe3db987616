-- One row per profile: contactable_<channel> (consent, no suppression, under the
-- pressure cap) and the current pressure, pivoted from marketing_pressure for the
-- sync engine's policies and for audiences.
with pressure as (
    select * from {{ ref('marketing_pressure') }}
),

final as (
    select
        profile_id,
        {%- for channel in ['email', 'sms', 'ads'] %}
        max(case when channel = '{{ channel }}' and is_contactable then 1 else 0 end) = 1 as contactable_{{ channel }},
        max(case when channel = '{{ channel }}' then pressure end) as pressure_{{ channel }},
        max(case when channel = '{{ channel }}' then suppression_reason end) as suppression_reason_{{ channel }}{{ "," if not loop.last }}
        {%- endfor %}
    from pressure
    group by profile_id
)

select * from final
