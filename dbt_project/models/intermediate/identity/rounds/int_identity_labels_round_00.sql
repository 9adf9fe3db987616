{#- Connected-components round 0: labels one hop ahead (see macros/identity/connected_components.sql). -#}
{{ identity_initial_labels(ref('int_identity_edges_directed')) }}
