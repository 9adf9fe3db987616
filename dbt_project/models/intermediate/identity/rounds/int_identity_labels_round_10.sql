{#- Connected-components round 10 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(10 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_09'), ref('int_identity_edges_directed'), 10) }}
