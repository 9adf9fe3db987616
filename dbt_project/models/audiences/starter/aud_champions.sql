-- RFM champions (recent, frequent, high-spending): seed lists for ad platforms'
-- lookalikes and loyalty offers. Ads consent required.
with scores as (
    select * from {{ ref('customer_scores') }}
),

candidates as (
    select
        profile_id,
        rfm_score,
        rfm_segment,
        rfm_monetary_value,
        main_interest,
        loyalty_status
    from scores
    where rfm_segment = 'champions'
),

eligible as (
    select candidates.*
    from candidates
    where {{ audience_eligible('ads', 'candidates.profile_id') }}
),

final as (
    select
        eligible.profile_id,
        {{ audience_variant('eligible.profile_id', 'aud_champions') }} as variant,
        profiles.email,
        profiles.phone,
        profiles.first_name,
        profiles.last_name,
        profiles.country,
        profiles.postcode,
        eligible.rfm_score,
        eligible.rfm_segment,
        eligible.rfm_monetary_value,
        eligible.main_interest,
        eligible.loyalty_status
    from eligible
    inner join {{ ref('customer_profiles') }} as profiles
        on profiles.profile_id = eligible.profile_id
    where profiles.email is not null or profiles.phone is not null
)

select * from final
