{#- Connected-components round 1 (see macros/identity/connected_components.sql). -#}
{{ config(enabled=(1 <= identity_label_rounds())) }}
{{ identity_label_round(ref('int_identity_labels_round_00'), ref('int_identity_edges_directed'), 1) }}
