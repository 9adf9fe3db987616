"""Ferry's deterministic identity graph versus Splink's deterministic linkage, on the same data.

    python -m benchmarks.identity_vs_splink [--quick] [--sizes 100000,1000000]

For each size: generate raw data into one DuckDB file, build staging and
int_identifiers untimed, then time side by side
- Ferry: `dbt run` of the identity models from int_identifiers (exclusive) to
  marts.customer_identifiers, with var fuzzy_matching_enabled: false
  (deterministic only);
- Splink 5 on its DuckDB backend: one row per raw record with one *list* column
  per identifier type (every distinct valid value of that type the record holds),
  `deterministic_link()` with one `block_on(<type>, arrays_to_explode=[<type>])`
  rule per identifier type, then `cluster_pairwise_predictions_at_threshold`.
  The wide table is built inside the timed section (Splink has to be fed).
Both get pairwise precision/recall/F1 against raw.ground_truth with
identity.evaluation.pair_counts (records a resolver leaves out are singletons).
Each engine runs in its own process (peak RSS per engine, benchmarks.measure).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
WORKDIR = Path("/tmp/ferry_bench_identity_vs_splink")
TYPES = ("customer_id", "email", "phone", "anonymous_id")
VARS = json.dumps({"fuzzy_matching_enabled": False})


# --------------------------------------------------------------------------- splink phase (own process)


def phase_splink(db: Path) -> dict[str, Any]:
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect(str(db))
    started, cpu = time.perf_counter(), time.process_time()
    lists = ",\n".join(
        f"list(distinct identifier_value) filter (where identifier_type = '{t}' and is_valid) as {t}" for t in TYPES
    )
    con.execute(f"""
        create or replace table splink_input as
        select source || '|' || cast(source_record_id as varchar) as unique_id, {lists}
        from intermediate.int_identifiers
        group by source, source_record_id""")
    # Splink explodes arrays for blocking; empty lists must be NULL-safe: use [] rather than NULL.
    con.execute("update splink_input set " + ", ".join(f"{t} = coalesce({t}, [])" for t in TYPES))
    prep_seconds = time.perf_counter() - started
    settings = SettingsCreator(
        link_type="dedupe_only",
        # deterministic_link never evaluates comparisons, but Splink selects its input columns from them.
        comparisons=[cl.ExactMatch(t) for t in TYPES],
        blocking_rules_to_generate_predictions=[block_on(t, arrays_to_explode=[t]) for t in TYPES],
    )
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register("splink_input"), settings)
    t_link = time.perf_counter()
    pairs = linker.inference.deterministic_link()
    link_seconds = time.perf_counter() - t_link
    t_cluster = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs, None)
    con.execute(f"create or replace table main.splink_clusters as "
                f"select unique_id, cast(cluster_id as varchar) as cluster_id from {clusters.physical_name}")
    cluster_seconds = time.perf_counter() - t_cluster
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    n_pairs = con.execute(f"select count(*) from {pairs.physical_name}").fetchone()[0]
    con.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "prep_seconds": prep_seconds, "link_seconds": link_seconds,
            "cluster_seconds": cluster_seconds, "pairs": n_pairs}


PHASES = {"splink": phase_splink}


# --------------------------------------------------------------------------- scoring


def score(db: Path, predicted_sql: str) -> dict[str, float]:
    """Pairwise scores of one (source, source_record_id) -> cluster labelling against the ground truth."""
    import duckdb
    import numpy as np

    from identity.evaluation import TRUTH, pair_counts

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(f"""
            with truth as ({TRUTH}), predicted as ({predicted_sql})
            select truth.person_id,
                   coalesce(predicted.cluster_id, '~single|' || truth.source || '|' || truth.source_record_id) as cluster
            from truth left join predicted using (source, source_record_id)""").fetchnumpy()
    person = np.unique(rows["person_id"].astype(str), return_inverse=True)[1]
    cluster = np.unique(rows["cluster"].astype(str), return_inverse=True)[1]
    c = pair_counts(person, cluster)
    return {"precision": c.precision, "recall": c.recall, "f1": c.f1, "records": len(person),
            "predicted_pairs": c.predicted_pairs, "true_pairs": c.true_pairs}


FERRY_PREDICTED = """select source, cast(source_record_id as varchar) as source_record_id,
    cast(min(profile_id) as varchar) as cluster_id from marts.customer_identifiers group by 1, 2"""
SPLINK_PREDICTED = """select split_part(unique_id, '|', 1) as source,
    substr(unique_id, length(split_part(unique_id, '|', 1)) + 2) as source_record_id,
    cluster_id from main.splink_clusters"""


# --------------------------------------------------------------------------- driver


def dbt(args: list[str], db: Path, work: Path):
    from benchmarks.common import ROOT, run_measured

    m = run_measured([str(BIN / "dbt"), *args, "--vars", VARS, "--target-path", str(work / "target"),
                      "--log-path", str(work / "logs"), "--quiet"],
                     env={"FERRY_DUCKDB_PATH": str(db), "FERRY_DBT_TARGET": "duckdb"}, cwd=ROOT / "dbt_project")
    if m.returncode:
        raise SystemExit(f"dbt {' '.join(args)} failed")
    return m


def slowest_models(work: Path, n: int = 5) -> list[tuple[str, float]]:
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    timed = sorted(((r["unique_id"].split(".")[-1], r["execution_time"]) for r in results), key=lambda x: -x[1])
    return [(name, round(t, 2)) for name, t in timed[:n]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~20k raw records, to check the harness")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--phase", choices=sorted(PHASES))
    parser.add_argument("--db", type=Path)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.db)))
        return 0

    from benchmarks.common import run_measured, write_results
    from benchmarks.identity_profiles import generate, raw_records, records_per_person

    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    per_person = records_per_person(WORKDIR)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    measured = []
    for target in sizes:
        db = WORKDIR / f"bench_{target}.duckdb"
        work = WORKDIR / f"dbt_{target}"
        generate(db, max(1, round(target / per_person)))
        n = raw_records(db)
        # Untimed: everything customer_identifiers needs that is not downstream of int_identifiers, then it.
        dbt(["seed"], db, work)
        dbt(["run", "--select", "+customer_identifiers", "--exclude", "int_identifiers+"], db, work)
        dbt(["run", "--select", "int_identifiers"], db, work)
        ferry = dbt(["run", "--select", "int_identifiers+,+customer_identifiers", "--exclude", "int_identifiers"],
                    db, work)
        slow = slowest_models(work)
        ferry_elapsed = json.loads((work / "target" / "run_results.json").read_text())["elapsed_time"]
        m = run_measured([sys.executable, "-m", "benchmarks.identity_vs_splink", "--phase", "splink", "--db", str(db)])
        if m.returncode:
            raise SystemExit("splink phase failed")
        splink = json.loads(m.output.strip().splitlines()[-1])
        f_score, s_score = score(db, FERRY_PREDICTED), score(db, SPLINK_PREDICTED)
        measured.append((n, ferry.seconds, m.seconds))
        label = f"{round(n / 1000):,}k raw records"
        print(f"{label}: ferry {ferry.seconds:.1f} s F1 {f_score['f1']:.4f}; splink {m.seconds:.1f} s "
              f"(in-process {splink['seconds']:.1f} s) F1 {s_score['f1']:.4f}", flush=True)
        rows += [
            {"what": f"deterministic identity, {label} (Ferry dbt run vs Splink deterministic_link + clustering)",
             "value": round(ferry.seconds, 2), "unit": "s", "peer": "Splink 5 (DuckDB)",
             "peer_value": round(m.seconds, 2), "ratio": round(ferry.seconds / m.seconds, 2)},
            {"what": f"same, excluding process start-up (dbt run_results elapsed vs Splink in-process), {label}",
             "value": round(ferry_elapsed, 2), "unit": "s", "peer": "Splink 5 (DuckDB)",
             "peer_value": round(splink["seconds"], 2), "ratio": round(ferry_elapsed / splink["seconds"], 2)},
            {"what": f"pairwise F1 vs ground truth, {label}", "value": round(f_score["f1"], 4), "unit": "F1",
             "peer": "Splink 5 (DuckDB)", "peer_value": round(s_score["f1"], 4),
             "ratio": round(f_score["f1"] / s_score["f1"], 3) if s_score["f1"] else None},
            {"what": f"pairwise precision / recall, {label}",
             "value": f"{f_score['precision']:.4f} / {f_score['recall']:.4f}", "unit": "P / R",
             "peer": "Splink 5 (DuckDB)", "peer_value": f"{s_score['precision']:.4f} / {s_score['recall']:.4f}"},
            {"what": f"peak RSS, {label}", "value": round(ferry.peak_rss_mb), "unit": "MB",
             "peer": "Splink 5 (DuckDB)", "peer_value": round(m.peak_rss_mb),
             "ratio": round(ferry.peak_rss_mb / m.peak_rss_mb, 2) if m.peak_rss_mb else None},
        ]
        notes.append(
            f"{label}: Ferry's slowest models (s, run_results.json): {slow}. Splink in-process "
            f"{splink['seconds']:.1f} s = wide table {splink['prep_seconds']:.1f} s + deterministic_link "
            f"{splink['link_seconds']:.1f} s ({splink['pairs']:,} pairs) + clustering {splink['cluster_seconds']:.1f} s; "
            f"the rest of its wall time is importing splink and starting the process. "
            f"Ferry wall time includes dbt's start-up and manifest parse (several seconds on this machine).")
        db.unlink(missing_ok=True)
    if len(measured) >= 2:
        (n1, f1, s1), (n2, f2, s2) = measured[0], measured[-1]
        rows.append({"what": "scaling exponent 100k -> 1M (time ~ records^k)",
                     "value": round(math.log(f2 / f1) / math.log(n2 / n1), 2), "unit": "k",
                     "peer": "Splink 5 (DuckDB)", "peer_value": round(math.log(s2 / s1) / math.log(n2 / n1), 2)})
    notes += [
        "Same DuckDB file for both; staging and int_identifiers built untimed. Ferry: `dbt run` of "
        "int_identifiers+,+customer_identifiers minus int_identifiers, var fuzzy_matching_enabled false, no tests.",
        "Splink layout: one row per raw record, one list column per identifier type holding every distinct valid "
        "value (records can hold several emails/phones), block_on(type, arrays_to_explode=[type]) per type, "
        "deterministic_link, cluster_pairwise_predictions_at_threshold(threshold None: every pair links).",
        "Ferry additionally screens hub identifiers (shared by too many records) and applies stable-id rules; "
        "Splink links every shared valid value, which is where their precision differs.",
        f"Shared 2-core machine (load average at end: {open('/proc/loadavg').read().split()[0]}).",
    ]
    path = write_results("identity_vs_splink", rows, notes=notes)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
