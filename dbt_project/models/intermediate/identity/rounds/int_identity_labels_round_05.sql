{#- Connected-components round 5 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(5 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_04'), ref('int_identity_edges_directed'), 5) }}
