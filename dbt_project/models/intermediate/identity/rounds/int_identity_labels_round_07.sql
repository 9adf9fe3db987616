{#- Connected-components round 7 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(7 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_06'), ref('int_identity_edges_directed'), 7) }}
