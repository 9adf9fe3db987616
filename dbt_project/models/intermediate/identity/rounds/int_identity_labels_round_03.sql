{#- Connected-components round 3 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(3 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_02'), ref('int_identity_edges_directed'), 3) }}
