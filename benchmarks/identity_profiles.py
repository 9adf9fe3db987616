"""Identity + profiles at scale: generate N raw records, time `dbt build` of the identity graph and profiles.

Reports wall time and peak RSS of the dbt process for 100k and 1M raw records,
and the scaling exponent between them (time ~ records^k).

    python -m benchmarks.identity_profiles [--quick] [--sizes 100000,1000000] [--crm-duplicate-share 0.08]

With --crm-duplicate-share the data holds the CRM's own duplicates (results in
identity_crm_scale.json, with the time of the fuzzy decision models).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import duckdb

from benchmarks.common import ROOT, Measured, load_average, run_measured, write_results

BIN = Path(sys.executable).parent
SELECT = ["+customer_profiles", "+customer_identifiers"]


def raw_records(db: Path) -> int:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute("select count(*) from raw.ground_truth").fetchone()[0]


def generate(db: Path, people: int, seed: int = 7, crm_duplicate_share: float = 0.0) -> float:
    m = run_measured([str(BIN / "ferry"), "generate", "--people", str(people), "--seed", str(seed),
                      "--crm-duplicate-share", str(crm_duplicate_share)],
                     env={"FERRY_DUCKDB_PATH": str(db)})
    if m.returncode:
        raise SystemExit("ferry generate failed")
    return m.seconds


def records_per_person(workdir: Path) -> float:
    db = workdir / "calibrate.duckdb"
    generate(db, 2000)
    return raw_records(db) / 2000


def build(db: Path, workdir: Path) -> Measured:
    m = run_measured(
        [str(BIN / "dbt"), "build", "--select", *SELECT, "--exclude", "test_type:unit", "--indirect-selection", "cautious",
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"), "--quiet"],
        env={"FERRY_DUCKDB_PATH": str(db)},
        cwd=ROOT / "dbt_project",
    )
    if m.returncode:
        raise SystemExit("dbt build failed")
    return m


def _node_seconds(workdir: Path) -> dict[str, float]:
    """Execution time of each model and test in the last build (run_results.json)."""
    import json

    results = json.loads((workdir / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"]: round(r["execution_time"], 2) for r in results}


def _fuzzy_decision_seconds(nodes: dict[str, float]) -> dict[str, float]:
    """The fuzzy models' share of a build."""
    return {
        node.split(".")[-1]: seconds
        for node, seconds in nodes.items()
        if ".int_fuzzy_" in node or ".fuzzy_" in node
    }


def _slowest_models(nodes: dict[str, float], count: int = 10) -> dict[str, float]:
    """The slowest models, and all data tests together (dbt build runs both)."""
    models = sorted(((s, n) for n, s in nodes.items() if n.startswith("model.")), reverse=True)
    slowest = {n.split(".")[-1]: s for s, n in models[:count]}
    slowest["(all data tests)"] = round(sum(s for n, s in nodes.items() if n.startswith("test.")), 2)
    return slowest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--crm-duplicate-share", type=float, default=0.0)
    args = parser.parse_args(argv)
    share = args.crm_duplicate_share
    sizes = [20000] if args.quick else [int(s) for s in args.sizes.split(",")]
    rows, measured, notes = [], [], ["DuckDB embedded target, 2 dbt threads"]
    with tempfile.TemporaryDirectory(prefix="ferry-bench-") as tmp:
        workdir = Path(tmp)
        per_person = records_per_person(workdir)
        for target in sizes:
            db = workdir / f"bench_{target}.duckdb"
            gen_s = generate(db, max(1, round(target / per_person)), crm_duplicate_share=share)
            n = raw_records(db)
            m = build(db, workdir)
            seconds, rss, load_after = m.seconds, m.peak_rss_mb, load_average()
            measured.append((n, seconds))
            print(f"{n:,} raw records: generate {gen_s:.1f} s, dbt build {seconds:.1f} s "
                  f"({m.cpu_seconds:.0f} CPU s, load {m.load_before} -> {load_after}), peak RSS {rss:,.0f} MB")
            label = f"{round(n / 1000):,}k raw records" + (
                f", CRM duplicate share {share}" if share else ""
            )
            nodes = _node_seconds(workdir)
            notes += [
                f"{label}: fuzzy decision models (s): {_fuzzy_decision_seconds(nodes)}",
                f"{label}: slowest models (s, dbt's execution_time, 2 threads): {_slowest_models(nodes)}",
                f"{label}: load average {m.load_before} at the start of the build, {load_after} at its end",
            ]
            rows += [
                {"what": f"generate {label}", "value": round(gen_s, 2), "unit": "s", "target": "< 60 s at 1M"},
                {"what": f"dbt build identity + profiles, {label}", "value": round(seconds, 2), "unit": "s",
                 "target": "<= 60 s at 1M"},
                {"what": f"peak RSS of dbt, {label}", "value": round(rss), "unit": "MB"},
                {"what": f"CPU time of dbt build (user + system), {label}", "value": round(m.cpu_seconds, 1),
                 "unit": "s", "target": "quiet 2-core wall time is at least half of it"},
            ]
            db.unlink(missing_ok=True)
    if len(measured) >= 2:
        (n1, t1), (n2, t2) = measured[0], measured[-1]
        rows.append({"what": "scaling exponent of dbt build (time ~ records^k)",
                     "value": round(math.log(t2 / t1) / math.log(n2 / n1), 2), "unit": "k"})
    notes.append(f"load average at end: {open('/proc/loadavg').read().split()[0]} (shared 2-core machine)")
    write_results("identity_crm_scale" if share else "identity", rows, notes=notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
