{#- Connected-components round 2 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(2 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_01'), ref('int_identity_edges_directed'), 2) }}
