{#- One row per label round: how many nodes it relabelled. Shows where the graph
    converged (the first round with labels_changed = 0 and every round after it);
    the test on int_identity_components is what fails the build if the last round
    has not converged. -#}
with rounds as (
    {%- for round_number in range(1, identity_label_rounds() + 1) %}
    select
        {{ round_number }} as round_number,
        count(*) as nodes,
        sum(case when label_changed then 1 else 0 end) as labels_changed,
        count(distinct label) as labels
    from {{ ref('int_identity_labels_round_' ~ ('%02d' | format(round_number))) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

final as (
    select
        round_number,
        nodes,
        coalesce(labels_changed, 0) as labels_changed,
        labels
    from rounds
)

select * from final
