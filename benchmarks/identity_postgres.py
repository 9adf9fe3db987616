"""Identity + profiles on the PostgreSQL target versus DuckDB, same raw data, same run.

    python -m benchmarks.identity_postgres [--quick] [--size 100000]

Generates ~N raw records into a DuckDB file, copies its `raw` schema into a
throwaway PostgreSQL 15 (tests.postgres_server, bulk Arrow/ADBC COPY as in
tests/engines/raw_copy.py; untimed), then times the same
`dbt build --select +customer_profiles +customer_identifiers --exclude test_type:unit`
(seeds, models and the data tests whose parents are all selected, indirect
selection `cautious`) on each target, DuckDB first. Both run with var
fuzzy_matching_enabled: false: DuckDB's fuzzy step is a Python (Splink) model
that PostgreSQL replaces with a portable SQL stand-in, so deterministic identity
is the like-for-like comparison. Peak RSS is the dbt process's; PostgreSQL's own
backend processes are not counted in it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
WORKDIR = Path("/tmp/ferry_bench_identity_postgres")
SELECT = ["+customer_profiles", "+customer_identifiers"]
VARS = json.dumps({"fuzzy_matching_enabled": False})


def build(target: str, env: dict[str, str], work: Path):
    from benchmarks.common import ROOT, run_measured

    m = run_measured(
        [str(BIN / "dbt"), "build", "--select", *SELECT, "--exclude", "test_type:unit", "--indirect-selection", "cautious",
         "--target", target,
         "--vars", VARS, "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--quiet"],
        env={**env, "FERRY_DBT_TARGET": target, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
        cwd=ROOT / "dbt_project",
    )
    if m.returncode:
        raise SystemExit(f"dbt build on {target} failed")
    return m


def slowest(work: Path, n: int = 5) -> list[tuple[str, float]]:
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    models = [(r["unique_id"].split(".")[-1], round(r["execution_time"], 2)) for r in results
              if r["unique_id"].startswith("model.")]
    return sorted(models, key=lambda x: -x[1])[:n]


def test_seconds(work: Path) -> float:
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return sum(r["execution_time"] for r in results if r["unique_id"].startswith("test."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~20k raw records, to check the harness")
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args(argv)

    import psycopg

    from benchmarks.common import write_results
    from benchmarks.identity_profiles import generate, raw_records, records_per_person
    from tests.engines.raw_copy import copy_raw_to_postgres
    from tests.postgres_server import start_postgres

    size = 20_000 if args.quick else args.size
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    db = WORKDIR / "bench.duckdb"
    generate(db, max(1, round(size / records_per_person(WORKDIR))))
    n = raw_records(db)
    label = f"{round(n / 1000):,}k raw records"

    duck = build("duckdb", {"FERRY_DUCKDB_PATH": str(db)}, WORKDIR / "dbt_duckdb")
    duck_slow, duck_tests = slowest(WORKDIR / "dbt_duckdb"), test_seconds(WORKDIR / "dbt_duckdb")
    print(f"{label}: duckdb {duck.seconds:.1f} s", flush=True)

    server = start_postgres()
    try:
        started = time.perf_counter()
        copy_raw_to_postgres(db, server.dsn)
        copy_seconds = time.perf_counter() - started
        pg = build("postgres", server.env(), WORKDIR / "dbt_postgres")
        pg_slow, pg_tests = slowest(WORKDIR / "dbt_postgres"), test_seconds(WORKDIR / "dbt_postgres")
        with psycopg.connect(server.dsn) as conn:
            pg_profiles = conn.execute("select count(*) from marts.customer_profiles").fetchone()[0]
    finally:
        server.stop()
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        duck_profiles = con.execute("select count(*) from marts.customer_profiles").fetchone()[0]
    print(f"{label}: postgres {pg.seconds:.1f} s (raw copy {copy_seconds:.1f} s); profiles pg {pg_profiles:,} "
          f"duckdb {duck_profiles:,}", flush=True)

    rows: list[dict[str, Any]] = [
        {"what": f"dbt build identity + profiles on PostgreSQL 15, {label}", "value": round(pg.seconds, 2),
         "unit": "s", "peer": "same build on DuckDB", "peer_value": round(duck.seconds, 2),
         "ratio": round(pg.seconds / duck.seconds, 2)},
        {"what": f"peak RSS of the dbt process, {label}", "value": round(pg.peak_rss_mb), "unit": "MB",
         "peer": "same build on DuckDB", "peer_value": round(duck.peak_rss_mb),
         "ratio": round(pg.peak_rss_mb / duck.peak_rss_mb, 2)},
        {"what": f"profiles built, {label}", "value": pg_profiles, "unit": "profiles",
         "peer": "same build on DuckDB", "peer_value": duck_profiles},
        {"what": f"copy raw schema DuckDB -> PostgreSQL (Arrow/ADBC COPY, untimed in the build), {label}",
         "value": round(copy_seconds, 2), "unit": "s"},
    ]
    notes = [
        "Same raw data on both targets, same selection (+customer_profiles +customer_identifiers, seeds, models and "
        "data tests, no unit tests), var fuzzy_matching_enabled false on both (deterministic identity).",
        f"Where the time goes, PostgreSQL: slowest models (s) {pg_slow}; data tests {pg_tests:.1f} s summed "
        f"(dbt runs 2 threads, so sums exceed wall time).",
        f"Where the time goes, DuckDB: slowest models (s) {duck_slow}; data tests {duck_tests:.1f} s summed.",
        "PostgreSQL 15 is a throwaway local cluster with default settings (no tuning of work_mem/shared_buffers), "
        "on the same 2-core machine; its server processes' CPU and memory are not in the dbt RSS figure.",
        f"Shared 2-core machine (load average at end: {open('/proc/loadavg').read().split()[0]}).",
    ]
    path = write_results("identity_postgres", rows, notes=notes)
    print(f"wrote {path}")
    db.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
