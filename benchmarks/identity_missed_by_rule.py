"""Why true pairs stay apart in a built warehouse: each missed pair by the rule that held it.

    python -m benchmarks.identity_missed_by_rule WAREHOUSE.duckdb [--examples 5]

For a warehouse kept by `ferry fuzzy evaluate-file --keep-warehouse` (or any built
DuckDB warehouse with raw.ground_truth), every true pair of person records whose
profiles differ is put in one bucket, first match wins:
- ``refused:<rule>``: the pair was scored and int_fuzzy_link_decisions refused it
  (a contradiction, the review threshold, the customer-id or cluster guard);
- ``scored_below:<name level>``: blocking compared the pair but the model scored it
  below fuzzy_min_probability (so it never reached the decisions), by its name level;
- ``never_compared``: no blocking rule put the two records side by side.
The last two are found by scoring the warehouse's person records again with the
committed model at probability 0 (all blocked pairs), as int_fuzzy_links does.
A missed pair may also be joined through others; this counts the direct pair only.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import duckdb
import pyarrow as pa


def missed_pairs(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """(a, b, person, kind_a, kind_b) of true pairs whose profiles differ, a < b."""
    return con.sql(
        """
        with truth as (
            select t.source, t.source_record_id, t.person_id,
                   coalesce(t.duplicate_kind, 'original') as kind,
                   min(ci.profile_id) as profile_id
            from raw.ground_truth as t
            join marts.customer_identifiers as ci
              on ci.source = t.source and cast(ci.source_record_id as varchar) = t.source_record_id
            group by all
        )
        select l.source as source_a, l.source_record_id as a, r.source as source_b,
               r.source_record_id as b, l.person_id, l.kind as kind_a, r.kind as kind_b
        from truth as l
        join truth as r
          on l.person_id = r.person_id and (l.source, l.source_record_id) < (r.source, r.source_record_id)
        where l.profile_id <> r.profile_id
        """
    ).to_arrow_table()


def all_scored_pairs(con: duckdb.DuckDBPyConnection, project: Path) -> pa.Table:
    """Every pair the blocking rules compare, scored by the committed model."""
    from identity.fuzzy import ScoringOptions, score_pairs
    from identity.fuzzy.features import INPUT_COLUMNS

    cols = [
        c[0] for c in con.sql("select * from intermediate.int_person_records limit 0").description
    ]
    records = con.sql(
        f"select {', '.join(c for c in cols if c in INPUT_COLUMNS)} from intermediate.int_person_records"
    ).to_arrow_table()
    nicknames = con.sql("select * from seeds.fuzzy_nicknames").to_arrow_table()
    model = project / "fuzzy" / "splink_model.json"
    return score_pairs(
        records, nicknames, ScoringOptions(model_path=str(model), min_probability=0.0)
    )


def breakdown(database: Path, project: Path, examples: int = 0) -> dict:
    with duckdb.connect(str(database), read_only=True) as con:
        missed = missed_pairs(con)
        decisions = con.sql(
            "select source_a, source_record_id_a, source_b, source_record_id_b, refusal_rule, "
            "link_status, name_level, birth_date_level, address_level, match_probability "
            "from intermediate.int_fuzzy_link_decisions"
        ).fetchall()
        scored = all_scored_pairs(con, project)
        records = {
            (s, r): (f, last, str(b), st, pc)
            for s, r, f, last, b, st, pc in con.sql(
                "select source, source_record_id, first_name, last_name, birth_date, street, "
                "postcode from intermediate.int_person_records"
            ).fetchall()
        }
    decided = {(d[0], d[1], d[2], d[3]): d[4:] for d in decisions}
    score_cols = scored.select(
        ["source_a", "source_record_id_a", "source_b", "source_record_id_b",
         "match_probability", "name_level", "birth_date_level", "address_level"]
    ).to_pylist()  # fmt: skip
    blocked = {
        (p["source_a"], p["source_record_id_a"], p["source_b"], p["source_record_id_b"]): p
        for p in score_cols
    }
    buckets: collections.Counter[str] = collections.Counter()
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    levels: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    shown: dict[str, list] = collections.defaultdict(list)
    for row in missed.to_pylist():
        key = (row["source_a"], row["a"], row["source_b"], row["b"])
        kind = row["kind_b"] if row["kind_a"] == "original" else row["kind_a"]
        if key in decided:
            rule, _status, name, birth, address, _p = decided[key]
            bucket = f"refused:{rule or 'merged_but_cluster_guard'}"
            levels[bucket][f"{name} | {birth} | {address}"] += 1
        elif key in blocked:
            p = blocked[key]
            bucket = f"scored_below:{p['name_level']}"
            levels[bucket][f"{p['birth_date_level']} | {p['address_level']}"] += 1
        else:
            bucket = "never_compared"
        buckets[bucket] += 1
        by_kind[bucket][kind] += 1
        if len(shown[bucket]) < examples:
            shown[bucket].append((records.get(key[:2]), records.get(key[2:])))
    return {
        "missed_pairs": missed.num_rows,
        "buckets": dict(buckets.most_common()),
        "by_kind": {b: dict(c.most_common()) for b, c in by_kind.items()},
        "levels": {b: dict(c.most_common(6)) for b, c in levels.items()},
        "examples": shown,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--examples", type=int, default=0, help="record pairs shown per bucket")
    parser.add_argument("--project", type=Path, default=None, help="dbt project (default: ours)")
    args = parser.parse_args(argv)
    if args.project is None:
        from orchestration.paths import DBT_PROJECT_DIR

        args.project = DBT_PROJECT_DIR
    print(json.dumps(breakdown(args.warehouse, args.project, args.examples), indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
