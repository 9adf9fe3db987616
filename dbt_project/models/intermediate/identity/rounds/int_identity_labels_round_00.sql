{#- Connected-components round 0: every graph node labelled with itself. -#}
{{ identity_initial_labels(ref('int_identity_edges_directed')) }}
