"""The source registry's cost: full `dbt build` of the default generated data with the
registry-generated unions (this tree) and with the hand-written ones (a base commit),
side by side in one run, interleaved (base, this, this, base) so machine load falls on
both (best of two each is reported); then every table of the two warehouses compared (EXCEPT ALL both ways).

    python -m benchmarks.source_registry [--base REV] [--people 5000] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import duckdb

from benchmarks.common import ROOT, run_measured, write_results

BIN = Path(sys.executable).parent
# Columns stamped with the build's own clock: equal by construction, never by value.
CLOCK_COLUMNS = {"int_profile_id_registry": ("assigned_at",)}


def base_project(base: str, workdir: Path) -> Path:
    """The dbt project as it was at `base` (git archive), beside this tree's."""
    archive = workdir / "base.tar"
    subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), base, "dbt_project"],
                   cwd=ROOT, check=True)  # fmt: skip
    with tarfile.open(archive) as tar:
        tar.extractall(workdir / "base", filter="data")
    return workdir / "base" / "dbt_project"


def build(project: Path, db: Path, workdir: Path) -> tuple[float, float]:
    m = run_measured(
        [str(BIN / "dbt"), "build", "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"), "--quiet",
         "--vars", '{"ferry_as_of": "2026-11-25"}'],
        env={"FERRY_DUCKDB_PATH": str(db), "FERRY_DBT_PLUGINS_DIR": str(project / "plugins")},
        cwd=project,
    )  # fmt: skip
    if m.returncode:
        raise SystemExit(f"dbt build of {project} failed")
    return m.seconds, m.peak_rss_mb


def compare(a: Path, b: Path) -> tuple[int, list[str], dict[str, int]]:
    """(tables compared, tables that differ, rows of the four unioned models)."""
    con = duckdb.connect()
    con.execute(f"attach '{a}' as a (read_only)")
    con.execute(f"attach '{b}' as b (read_only)")
    tables = con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where database_name = 'a' and schema_name <> 'raw' order by 1, 2"
    ).fetchall()
    differ, rows = [], {}
    for schema, table in tables:
        skip = ", ".join(CLOCK_COLUMNS.get(table, ()))
        cols = f"* exclude ({skip})" if skip else "*"
        q = f'select {cols} from {{}}."{schema}"."{table}"'
        try:
            left = con.execute(
                f"select count(*) from ({q.format('a')} except all {q.format('b')})"
            ).fetchone()[0]
            right = con.execute(
                f"select count(*) from ({q.format('b')} except all {q.format('a')})"
            ).fetchone()[0]
        except duckdb.Error as error:
            differ.append(f"{schema}.{table} ({str(error).splitlines()[0]})")
            continue
        if left or right:
            differ.append(f"{schema}.{table} ({left} / {right} rows differ)")
        if table in (
            "int_identifiers",
            "int_events",
            "int_person_records",
            "int_quarantined_records",
        ):
            rows[table] = con.execute(f'select count(*) from a."{schema}"."{table}"').fetchone()[0]
    con.close()
    return len(tables), differ, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default=None,
        help="git revision with the hand-written unions (default: merge-base of HEAD and main)",
    )  # fmt: skip
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="300 people, to check the harness")
    parser.add_argument(
        "--keep", type=Path, default=None, help="copy this tree's built warehouse here"
    )
    args = parser.parse_args(argv)
    people = 300 if args.quick else args.people
    if args.base is None:
        args.base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True,
                                   capture_output=True, text=True).stdout.strip()[:10]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ferry-bench-sources-") as tmp:
        work = Path(tmp)
        raw = work / "raw.duckdb"
        m = run_measured([str(BIN / "ferry"), "generate", "--people", str(people), "--seed", "42",
                          "--as-of", "2026-11-25"], env={"FERRY_DUCKDB_PATH": str(raw)})  # fmt: skip
        if m.returncode:
            raise SystemExit("ferry generate failed")
        projects = {"base": base_project(args.base, work), "registry": ROOT / "dbt_project"}
        times: dict[str, list[float]] = {"base": [], "registry": []}
        rss: dict[str, list[float]] = {"base": [], "registry": []}
        for i, which in enumerate(("base", "registry", "registry", "base")):
            db = work / f"{which}_{i}.duckdb"
            shutil.copyfile(raw, db)
            seconds, peak = build(projects[which], db, work / f"w{i}")
            times[which].append(seconds)
            rss[which].append(peak)
            print(f"{which}: dbt build {seconds:.1f} s, peak RSS {peak:,.0f} MB", flush=True)
        compared, differ, rows = compare(work / "base_0.duckdb", work / "registry_1.duckdb")
        if args.keep:
            shutil.copyfile(work / "registry_1.duckdb", args.keep)
    # best of the two runs each: on a shared machine load only ever adds time
    base_s, reg_s = min(times["base"]), min(times["registry"])
    label = f"{people:,} people (seed 42)"
    print(f"tables compared {compared}, differing: {differ or 'none'}; rows {rows}")
    result_rows = [
        {"what": f"full dbt build (every model and test), default data, {label}, best of 2",
         "value": round(reg_s, 1), "unit": "s", "target": "within 5% of base",
         "peer": f"hand-written unions ({args.base})", "peer_value": round(base_s, 1),
         "ratio": round(reg_s / base_s, 3)},
        {"what": f"peak RSS of dbt, full build, {label}", "value": round(max(rss["registry"])), "unit": "MB",
         "peer": f"hand-written unions ({args.base})", "peer_value": round(max(rss["base"])),
         "ratio": round(max(rss["registry"]) / max(rss["base"]), 2)},
        {"what": f"tables identical to the hand-written unions' build (EXCEPT ALL both ways), {label}",
         "value": f"{compared - len(differ)} / {compared}", "unit": "tables", "target": "all"},
    ]  # fmt: skip
    write_results(
        "source_registry", result_rows,
        notes=[f"builds interleaved base, registry, registry, base; times {times}",
               f"rows of the unions: {rows}", f"differing tables: {differ or 'none'}",
               "int_profile_id_registry.assigned_at (build clock) excluded from the comparison"],
    )  # fmt: skip
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
