"""Fuzzy matching at scale: time and peak memory of the dbt fuzzy models on N person records.

For each size: generate sample data with about N rows in int_person_records,
build the upstream models (not measured), then measure `dbt build` of the fuzzy
seeds and models (Splink scoring in int_fuzzy_links, decisions, edges, merges,
review queue): wall time and the dbt process's own peak RSS. Also reports the
number of scored pairs and edges, and the pairwise precision of the edges
against raw.ground_truth.

Then, for each size, the matcher alone on a FEBRL-style person file of that many
records (``ferry fuzzy evaluate-file --file-only``: EM re-training on the file,
scoring, clustering, pairwise F1 against the true clusters): wall time and peak RSS.
(The warehouse path of evaluate-file, a dbt build, is measured on independent files
by benchmarks/identity_vs_splink.py.)

    python -m benchmarks.fuzzy_matching [--quick] [--sizes 100000,1000000] [--pipeline-sizes 100000] [--skip-pipeline]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import duckdb

from benchmarks.common import ROOT, run_measured, write_results

BIN = Path(sys.executable).parent
UPSTREAM = ["+int_person_records", "+int_identifiers"]
FUZZY = [
    "fuzzy_nicknames", "fuzzy_review_decisions", "int_fuzzy_links", "int_fuzzy_review_decisions",
    "int_fuzzy_link_decisions", "int_fuzzy_edges", "fuzzy_merges", "fuzzy_review_queue",
]


def _dbt(db: Path, workdir: Path, select: list[str]) -> tuple[float, float]:
    m = run_measured(
        [str(BIN / "dbt"), "build", "--select", *select, "--exclude", "test_type:unit", "test_type:data",
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"), "--quiet"],
        env={"FERRY_DUCKDB_PATH": str(db), "FERRY_DBT_TARGET": "duckdb"},
        cwd=ROOT / "dbt_project",
    )
    if m.returncode:
        raise SystemExit(f"dbt build {' '.join(select)} failed")
    return m.seconds, m.peak_rss_mb


def _generate(db: Path, people: int, seed: int = 7) -> None:
    m = run_measured([str(BIN / "ferry"), "generate", "--people", str(people), "--seed", str(seed)],
                     env={"FERRY_DUCKDB_PATH": str(db)})
    if m.returncode:
        raise SystemExit("ferry generate failed")


def _person_records(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql("select count(*) from intermediate.int_person_records").fetchall()[0][0]


def _outcome(db: Path) -> dict[str, float]:
    with duckdb.connect(str(db), read_only=True) as con:
        scored = con.sql("select count(*) from intermediate.int_fuzzy_links").fetchall()[0][0]
        edges, true_edges = con.sql(
            """
            select count(*), count(*) filter (where ta.person_id = tb.person_id)
            from intermediate.int_fuzzy_edges as e
            join raw.ground_truth as ta
                on ta.source = e.source_a and ta.source_record_id = e.source_record_id_a
            join raw.ground_truth as tb
                on tb.source = e.source_b and tb.source_record_id = e.source_record_id_b
            """
        ).fetchall()[0]
    return {"scored": scored, "edges": edges, "precision": true_edges / edges if edges else 1.0}


def _person_file(workdir: Path, records: int) -> list[dict[str, object]]:
    """evaluate-file --file-only on a FEBRL-style file of ``records`` rows (40% originals)."""
    import json

    from sample_data.person_file import write_person_file

    originals = round(records * 0.4)
    path = write_person_file(workdir / f"people_{records}.csv", originals=originals,
                             duplicates=records - originals, seed=7)
    out = workdir / f"people_{records}.json"
    m = run_measured([str(BIN / "ferry"), "fuzzy", "evaluate-file", str(path), "--id-col", "rec_id",
                      "--cluster-col", "cluster_id", "--file-only", "--output", str(out)])
    if m.returncode:
        raise SystemExit("ferry fuzzy evaluate-file failed")
    r = json.loads(out.read_text())
    print(f"person file, {r['records']:,} records: {m.seconds:.1f} s, peak RSS {m.peak_rss_mb:,.0f} MB, "
          f"precision {r['precision']:.4f} recall {r['recall']:.4f} f1 {r['f1']:.4f}")
    label = f"{round(r['records'] / 1000):,}k records"
    return [
        {"what": f"ferry fuzzy evaluate-file --file-only (EM + scoring + clusters), FEBRL-style file, {label}",
         "value": round(m.seconds, 2), "unit": "s"},
        {"what": f"peak RSS of ferry fuzzy evaluate-file --file-only, {label}", "value": round(m.peak_rss_mb), "unit": "MB"},
        {"what": f"pairwise F1 of clusters (--file-only), FEBRL-style file, {label}", "value": round(r["f1"], 4),
         "unit": "", "target": ">= 0.99"},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="100000,1000000",
                        help="records of the FEBRL-style person file, comma-separated")
    parser.add_argument("--pipeline-sizes", default="100000",
                        help="person records generated and matched in the warehouse (1M person records is"
                             " about 10M raw records: heavy)")
    parser.add_argument("--skip-pipeline", action="store_true",
                        help="only the person-file measurement (no generate + dbt)")
    args = parser.parse_args(argv)
    sizes = [10000] if args.quick else [int(s) for s in args.sizes.split(",")]
    pipeline_sizes = [10000] if args.quick else [int(s) for s in args.pipeline_sizes.split(",")]
    rows, measured = [], []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-fuzzy-") as tmp:
        workdir = Path(tmp)
        file_times = []
        for target in sizes:
            file_rows = _person_file(workdir, target)
            file_times.append((target, file_rows[0]["value"]))
            rows += file_rows
        if len(file_times) >= 2:
            (n1, t1), (n2, t2) = file_times[0], file_times[-1]
            rows.append({"what": "person file: scaling exponent (time ~ records^k)",
                         "value": round(math.log(t2 / t1) / math.log(n2 / n1), 2), "unit": "k"})
        if args.skip_pipeline:
            pipeline_sizes = []
        else:
            calibrate = workdir / "calibrate.duckdb"
            _generate(calibrate, 2000)
            _dbt(calibrate, workdir, ["+int_person_records"])
            per_person = _person_records(calibrate) / 2000
            calibrate.unlink()
            for target in pipeline_sizes:
                db = workdir / f"bench_{target}.duckdb"
                _generate(db, max(1, round(target / per_person)))
                _dbt(db, workdir, UPSTREAM)
                n = _person_records(db)
                seconds, rss = _dbt(db, workdir, FUZZY)
                outcome = _outcome(db)
                measured.append((n, seconds))
                print(f"{n:,} person records: fuzzy models {seconds:.1f} s, peak RSS {rss:,.0f} MB, "
                      f"{outcome['scored']:,} scored pairs, {outcome['edges']:,} edges, "
                      f"edge precision {outcome['precision']:.4f}")
                label = f"{round(n / 1000):,}k person records"
                rows += [
                    {"what": f"dbt build of the fuzzy models (Splink scoring + decisions), {label}",
                     "value": round(seconds, 2), "unit": "s",
                     "peer": "Splink docs (1M records, laptop)", "peer_value": "~60 s"},
                    {"what": f"peak RSS of dbt, {label}", "value": round(rss), "unit": "MB"},
                    {"what": f"scored candidate pairs (p >= 0.5), {label}", "value": outcome["scored"], "unit": "pairs"},
                    {"what": f"fuzzy edges (p >= fuzzy_match_threshold 0.8, uncontradicted), {label}",
                     "value": outcome["edges"],
                     "unit": "pairs"},
                    {"what": f"pairwise precision of fuzzy edges, {label}", "value": round(outcome["precision"], 4),
                     "unit": "", "target": ">= 0.995"},
                ]
                db.unlink(missing_ok=True)
    if len(measured) >= 2:
        (n1, t1), (n2, t2) = measured[0], measured[-1]
        rows.append({"what": "in-warehouse fuzzy models: scaling exponent (time ~ records^k)",
                     "value": round(math.log(t2 / t1) / math.log(n2 / n1), 2), "unit": "k"})
    write_results("fuzzy", rows, notes=[
        "DuckDB embedded target; Splink 5 on its own in-memory DuckDB inside a dbt Python model",
        "time includes dbt start-up and parse of the whole project",
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
