"""The source registry seen from Python: read and validated from dbt_project.yml
(var ``ferry_sources``, the one list of sources the dbt macros also read), the raw
contracts it declares, `ferry load` and docs/sources.md generated from it."""
