"""Run dbt in a subprocess against a private DuckDB file and target folder.

A subprocess, not dbtRunner: dbt-duckdb keeps its connection open in-process,
which would lock the file the assertions then read (and copy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DBT = Path(sys.executable).with_name("dbt")


def run_dbt(
    project: Path,
    db_path: Path,
    args: list[str],
    as_of: str | None = None,
    extra_vars: dict | None = None,
    env_extra: dict[str, str] | None = None,
) -> str:
    """Invoke dbt; raise with its output when it fails."""
    env = {
        **os.environ,
        "FERRY_DUCKDB_PATH": str(db_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(env_extra or {}),
    }
    cli = [
        str(DBT), *args,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(project.parent / "target"),
        "--log-path", str(project.parent / "logs"),
    ]  # fmt: skip
    variables = {**({"ferry_as_of": as_of} if as_of else {}), **(extra_vars or {})}
    if variables:
        cli += ["--vars", json.dumps(variables)]
    done = subprocess.run(
        cli, check=False, cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        lines = [
            line
            for line in done.stdout.splitlines()
            if "ERROR" in line or "FAIL" in line or "Error" in line
        ]
        raise AssertionError(
            f"dbt {' '.join(args)} failed:\n" + "\n".join(lines[-40:]) + "\n" + done.stdout[-4000:]
        )
    return done.stdout
