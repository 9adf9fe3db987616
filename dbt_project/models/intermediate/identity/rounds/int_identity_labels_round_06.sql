{#- Connected-components round 6 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(6 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_05'), ref('int_identity_edges_directed'), 6) }}
