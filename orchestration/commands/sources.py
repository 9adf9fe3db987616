"""`ferry sources check`: each present raw table against its registry contract (a dbt
run-operation, so the warehouse's own catalog answers, whichever adapter);
`ferry sources docs [--check]`: docs/sources.md from the registry."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from orchestration.paths import DBT_PROJECT_DIR, duckdb_path


def _check(args: argparse.Namespace) -> int:
    database = Path(args.duckdb).resolve() if args.duckdb else duckdb_path()
    dbt = Path(sys.executable).with_name("dbt")
    with tempfile.TemporaryDirectory(prefix="ferry-sources-") as work:
        cmd = [
            str(dbt) if dbt.exists() else "dbt", "run-operation", "ferry_check_sources",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(Path(work) / "target"), "--log-path", str(Path(work) / "logs"),
            "--quiet",
        ]  # fmt: skip
        env = {
            **os.environ,
            "FERRY_DUCKDB_PATH": str(database),
            "FERRY_DBT_PLUGINS_DIR": str(DBT_PROJECT_DIR / "plugins"),
        }
        if args.target:
            env["FERRY_DBT_TARGET"] = args.target
        done = subprocess.run(
            cmd, env=env, cwd=DBT_PROJECT_DIR, capture_output=True, text=True, check=False
        )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    for line in lines:
        print(line)
    if done.returncode:
        if not any(line.startswith("ERROR") for line in lines):
            print(done.stdout[-2000:] + done.stderr[-2000:], file=sys.stderr)
        print(
            "raw contracts broken: see docs/sources.md for each source's columns", file=sys.stderr
        )
        return 1
    return 0


def _docs(args: argparse.Namespace) -> int:
    from orchestration.sources import docs

    if args.check:
        current = docs.DOCS_PATH.read_text(encoding="utf-8") if docs.DOCS_PATH.exists() else ""
        if current != docs.render():
            print(f"out of date: {docs.DOCS_PATH} (run `ferry sources docs`)", file=sys.stderr)
            return 1
        print(f"{docs.DOCS_PATH} up to date")
        return 0
    changed = docs.write()
    print(f"{'wrote' if changed else 'unchanged'}: {docs.DOCS_PATH}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sources", help="the source registry: contracts and docs")
    sub = parser.add_subparsers(dest="sources_command", required=True)
    check = sub.add_parser("check", help="compare each present raw table with its contract")
    check.add_argument("--duckdb", default=None, help="DuckDB file (default: FERRY_DUCKDB_PATH)")
    check.add_argument("--target", default=None, help="dbt target (default: FERRY_DBT_TARGET)")
    check.set_defaults(func=_check)
    docs_parser = sub.add_parser("docs", help="write docs/sources.md from the registry")
    docs_parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    docs_parser.set_defaults(func=_docs)
