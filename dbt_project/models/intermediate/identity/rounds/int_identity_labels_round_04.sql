{#- Connected-components round 4 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(4 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_03'), ref('int_identity_edges_directed'), 4) }}
