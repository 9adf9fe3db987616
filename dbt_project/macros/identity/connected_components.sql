{#- Connected components without recursion, in SQL every engine runs.

    Nodes carry a label (a node); each round is one materialised model. The
    rounds run on the dense integer node numbers of int_identity_nodes (numbered
    in the order of the string ids, so the smallest label is the same node):
    integer joins and group-bys cost a fraction of 33-character md5 strings.
      1. hook: a node takes the smallest of its own label and its neighbours' labels;
      2. the whole group sharing an old label takes the smallest label any member
         reached (the old label's own smallest neighbour label);
      3. pointer jumping, twice: label := label of the label.
    Each round records which labels changed; once a round changes none the graph
    has converged (a fixed point joins equal labels across every edge) and the
    remaining rounds only copy, so spare rounds cost almost nothing.
    Labels only decrease and always name a node, so the jumps are joins on the
    same round. Hook-then-jump converges in O(log n) rounds even on a long
    chain (plain min-propagation would need as many rounds as the diameter); a
    chain of 100,000 nodes converges in 10 rounds. Rounds are separate tables,
    not chained CTEs, so each round's plan stays small and the state is
    inspectable; `identity_labels_converged` fails the build if the last round
    still has an edge whose ends carry different labels. -#}

{% macro identity_label_rounds() -%}
    {{ return(identity_setting('identity_label_rounds') | int) }}
{%- endmacro %}


{#- Round 0. Labels start one hop ahead instead of at the node itself: an
    identifier takes its smallest record, a record the smallest record reached
    through its identifiers (both valid labels: smaller node ids of the same
    component). With record nodes sorting before identifier nodes, a start at
    the node itself would spend the first round only moving identifiers.
    Reads the directed edges (node_is_record marks the record end). -#}
{% macro identity_initial_labels(directed_edges) -%}
with edges as (
    select node_id, neighbour_id, node_is_record from {{ directed_edges }}
),

identifier_labels as (
    select
        node_id,
        min(neighbour_id) as label
    from edges
    where not node_is_record
    group by node_id
),

record_labels as (
    select
        edges.node_id,
        min(identifier_labels.label) as label
    from edges
    inner join identifier_labels on identifier_labels.node_id = edges.neighbour_id
    where edges.node_is_record
    group by edges.node_id
),

final as (
    select node_id, label, true as label_changed from identifier_labels
    union all
    select node_id, label, true as label_changed from record_labels
)

select * from final
{%- endmacro %}


{#- True when the given labels model is a fixed point (no label changed in the
    round that produced it): then every edge already joins equal labels, and the
    next rounds can copy instead of recomputing. Checked at run time with a scan
    of the previous round; never skipped for round 1 (nor at parse time). -#}
{% macro identity_labels_settled(previous_labels) -%}
    {%- if not execute or model.get('resource_type') != 'model' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(database=previous_labels.database, schema=previous_labels.schema, identifier=previous_labels.identifier) -%}
    {%- if relation is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set result = run_query('select count(*) from ' ~ relation ~ ' where label_changed') -%}
    {{ return(result.columns[0].values()[0] == 0) }}
{%- endmacro %}


{% macro identity_label_round(previous_labels, directed_edges, round_number) -%}
{%- if round_number > 1 and identity_labels_settled(previous_labels) %}
-- converged already: the previous round changed no label
select node_id, label, false as label_changed from {{ previous_labels }}
{%- else %}
with labels as (
    select node_id, label from {{ previous_labels }}
),

edges as (
    select node_id, neighbour_id from {{ directed_edges }}
),

neighbour_labels as (
    select
        edges.node_id,
        min(labels.label) as neighbour_label
    from edges
    inner join labels on labels.node_id = edges.neighbour_id
    group by edges.node_id
),

hooked as (
    select
        labels.node_id,
        labels.label as previous_label,
        case
            when neighbour_labels.neighbour_label < labels.label then neighbour_labels.neighbour_label
            else labels.label
        end as label
    from labels
    left join neighbour_labels on neighbour_labels.node_id = labels.node_id
),

group_hooks as (
    select
        previous_label,
        min(label) as group_label
    from hooked
    group by previous_label
),

regrouped as (
    select
        hooked.node_id,
        case
            when group_hooks.group_label < hooked.label then group_hooks.group_label
            else hooked.label
        end as label
    from hooked
    inner join group_hooks on group_hooks.previous_label = hooked.previous_label
),

first_jump as (
    select
        regrouped.node_id,
        coalesce(parent.label, regrouped.label) as label
    from regrouped
    left join regrouped as parent on parent.node_id = regrouped.label
),

second_jump as (
    select
        first_jump.node_id,
        coalesce(parent.label, first_jump.label) as label
    from first_jump
    left join first_jump as parent on parent.node_id = first_jump.label
),

final as (
    select
        second_jump.node_id,
        second_jump.label,
        second_jump.label <> labels.label as label_changed
    from second_jump
    inner join labels on labels.node_id = second_jump.node_id
)

select * from final
{%- endif %}
{%- endmacro %}


{#- The model of the last round (the labels the components are read from). -#}
{% macro identity_final_labels() -%}
    {{ return(ref('int_identity_labels_round_' ~ ('%02d' | format(identity_label_rounds())))) }}
{%- endmacro %}


{#- Generic test on the components: no identifier links records that ended up in
    different components (no edge whose ends carry different labels). A failure
    means the graph needs more rounds than identity_label_rounds: add round models
    under models/intermediate/identity/rounds and raise the var. -#}
{% test identity_components_converged(model, edges) %}
with components as (
    select record_node, component_id from {{ model }}
),

edges as (
    select record_node, identifier_node from {{ edges }}
),

unconverged as (
    select
        edges.identifier_node,
        count(distinct components.component_id) as component_count
    from edges
    inner join components on components.record_node = edges.record_node
    group by edges.identifier_node
    having count(distinct components.component_id) > 1
)

select * from unconverged
{% endtest %}


{#- Generic test: the combination of columns is unique (no hub packages here). -#}
{% test identity_unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
