{#- Connected-components round 9 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(9 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_08'), ref('int_identity_edges_directed'), 9) }}
