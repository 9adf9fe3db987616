"""Run dbt against one target in a subprocess, with its own target and log paths.

Why a subprocess: each engine test builds the same project on another adapter; a
fresh process keeps adapters, env vars and dbt's global flags apart, and lets the
DuckDB baseline build while PostgreSQL builds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.paths import DBT_PROJECT_DIR
from tests import partial_parse

DBT = str(Path(sys.executable).parent / "dbt")


def _command(args: list[str], target: str, work: Path, dbt_vars: dict[str, Any]) -> list[str]:
    return [
        DBT,
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        target,
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps(dbt_vars),
    ]


@dataclass
class DbtJob:
    """A dbt invocation running in the background."""

    args: list[str]
    work: Path
    proc: subprocess.Popen[str]
    parse_key: str | None = None  # set: the parse is saved for later runs (partial_parse)

    def wait_ok(self, timeout: float = 900) -> str:
        """Wait; on failure raise with the lines dbt flagged, so the test says what broke.

        Past `timeout` the whole process group is killed (dbt and, on Spark, its JVM),
        so a slow build fails the test instead of running on after it.
        """
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()
            raise AssertionError(
                f"dbt {' '.join(self.args)} still running after {timeout:.0f} s, killed "
                f"(logs in {self.work / 'logs'})"
            ) from None
        if self.proc.returncode != 0:
            flagged = [
                line
                for line in out.splitlines()
                if "ERROR" in line or "FAIL" in line or "Error" in line
            ]
            tail = "\n".join(flagged[-40:] or out.splitlines()[-40:])
            raise AssertionError(
                f"dbt {' '.join(self.args)} failed (logs in {self.work / 'logs'}):\n{tail}"
            )
        if self.parse_key is not None:
            partial_parse.save(self.work / "target", self.parse_key)
        return out

    @property
    def manifest(self) -> Path:
        return self.work / "target" / "manifest.json"


def start_dbt(
    args: list[str],
    *,
    target: str,
    work: Path,
    env: dict[str, str],
    dbt_vars: dict[str, Any],
    warehouse: Path | None = None,
) -> DbtJob:
    """Start dbt. With `warehouse` (DuckDB), dbt runs from its folder and gets the file by
    name, so runs on other files with the same name share one parse (partial_parse)."""
    work.mkdir(parents=True, exist_ok=True)
    cwd, parse_key = DBT_PROJECT_DIR, None
    if warehouse is not None:
        cwd = warehouse.parent
        env = {
            **env,
            "FERRY_DUCKDB_PATH": warehouse.name,
            "FERRY_DBT_PLUGINS_DIR": str(DBT_PROJECT_DIR / "plugins"),
        }
        parse_key = partial_parse.key(DBT_PROJECT_DIR, dbt_vars, target, warehouse.name)
        partial_parse.seed(work / "target", parse_key)
    proc = subprocess.Popen(
        _command(args, target, work, dbt_vars),
        cwd=cwd,
        env={
            **os.environ,
            **env,
            "FERRY_DBT_TARGET": target,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: wait_ok can stop dbt and its children
    )
    return DbtJob(args, work, proc, parse_key)


def run_dbt(
    args: list[str],
    *,
    target: str,
    work: Path,
    env: dict[str, str],
    dbt_vars: dict[str, Any],
    timeout: float = 900,
    warehouse: Path | None = None,
) -> str:
    job = start_dbt(args, target=target, work=work, env=env, dbt_vars=dbt_vars, warehouse=warehouse)
    return job.wait_ok(timeout)


def show_inline(
    sql: str, *, target: str, work: Path, env: dict[str, str], dbt_vars: dict[str, Any]
) -> list[dict]:
    """Rows of `dbt show --inline sql` (Jinja rendered by dbt on `target`), as dicts."""
    out = run_dbt(
        ["--quiet", "show", "--inline", sql, "--output", "json", "--limit", "100"],
        target=target,
        work=work,
        env=env,
        dbt_vars=dbt_vars,
    )
    return json.loads(out[out.index("{") :])["show"]
