{#- Every present raw table holds the columns and types of its source registry entry
    (var ferry_sources). A broken contract errors here, naming each table and column;
    its staging model reads the missing column as null, so nothing else fails. -#}
{{ ferry_raw_contracts_test() }}
