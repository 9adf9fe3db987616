{#- Connected-components round 8 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(8 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_07'), ref('int_identity_edges_directed'), 8) }}
