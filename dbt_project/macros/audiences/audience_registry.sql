{#- Every audience model, for the membership history: the hand-written starter set
    plus the rule-based audiences that `ferry audiences compile` lists in
    macros/audiences/rule_audiences.sql. The list is static so dbt sees the refs at
    parse time and orders the history after every audience. -#}
{% macro ferry_starter_audiences() -%}
    {{ return([
        'aud_win_back',
        'aud_abandoned_cart',
        'aud_trial_inactive',
        'aud_trial_feature_x',
        'aud_champions',
        'aud_contract_renewal_reminder',
        'aud_birthday_salesperson',
        'aud_newsletter_welcome',
        'aud_nps_detractors',
    ]) }}
{%- endmacro %}

{% macro ferry_audiences() -%}
    {{ return(ferry_starter_audiences() + ferry_rule_audiences()) }}
{%- endmacro %}
