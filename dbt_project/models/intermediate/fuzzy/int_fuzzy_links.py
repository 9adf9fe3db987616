"""Scored candidate pairs of person records (Splink, Fellegi-Sunter).

A dbt-duckdb Python model, so DuckDB only: on other adapters it is disabled
(dbt_project.yml) and portable/int_fuzzy_links.sql, the same columns with no
rows, takes its name. A thin caller: the matching logic lives in identity.fuzzy
(the top-level identity package), the trained model in
dbt_project/fuzzy/splink_model.json (var fuzzy_model_path, relative to this project). Splink runs on its own
in-memory DuckDB, so none of its scratch tables land in the warehouse. One row
per pair of records whose match probability is at least fuzzy_min_probability,
with the comparison levels that produced it.
"""


def model(dbt, session):
    dbt.config(materialized="table")

    from dbt.flags import get_flags

    from identity.fuzzy import ScoringOptions, resolve_model_path, score_pairs
    from identity.fuzzy.features import INPUT_COLUMNS

    # identity/ knows no project layout: a relative var path is read from the dbt
    # project folder, which dbt-duckdb's in-process Python models learn from dbt's flags
    # (dbt may run from anywhere with --project-dir).
    model_path = resolve_model_path(
        dbt.config.get("fuzzy_model_path"), base_dir=getattr(get_flags(), "PROJECT_DIR", None)
    )
    options = ScoringOptions(
        model_path=str(model_path),
        min_probability=float(dbt.config.get("fuzzy_min_probability")),
        max_records_per_value=int(dbt.config.get("fuzzy_max_records_per_value")),
    )
    people = dbt.ref("int_person_records")
    wanted = [c for c in people.columns if c in INPUT_COLUMNS]
    records = people.select(*wanted).to_arrow_table()
    nicknames = dbt.ref("fuzzy_nicknames").to_arrow_table()
    return score_pairs(records, nicknames, options)
