{#- The filter every audience applies: never anyone under erasure, and for a
    marketing channel (email, sms, ads) only profiles whose current consent for that
    channel is granted. `none` is for internal notifications (to a salesperson).
    Suppressions (bounce, spam report...) and pressure caps are left to the sync
    engine's policies so its dry run can report them by reason. -#}
{% macro audience_eligible(channel, profile_column='profile_id') -%}
    {%- if channel not in ['email', 'sms', 'ads', 'none'] -%}
        {{ exceptions.raise_compiler_error("audience channel must be email, sms, ads or none, got '" ~ channel ~ "'") }}
    {%- endif -%}
    {{ profile_column }} not in (
        select erased.profile_id from {{ ref('erased_profiles') }} as erased
        where erased.profile_id is not null
    )
    {%- if channel != 'none' %}
    and {{ profile_column }} in (
        select consent.profile_id from {{ ref('customer_consent') }} as consent
        where consent.channel = '{{ channel }}' and consent.is_consented
    )
    {%- endif -%}
{%- endmacro %}
