"""The linters are part of the test run (`make test`): ruff over the Python
packages, sqlfluff (dbt templater, rules in dbt_project/.sqlfluff) over the dbt
models. A finding fails the run with the linter's own report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON_PACKAGES = [
    "orchestration",
    "syncs",
    "connectors",
    "identity",
    "sample_data",
    "tests",
    "benchmarks",
]
# Formatted with `ruff format`; the rest of the tree follows as each package is
# next reworked (formatting files others are editing would only make merges hard).
FORMATTED = [
    "identity",
    "sample_data",
    "syncs/engine.py",
    "syncs/plan.py",
    "syncs/records.py",
    "syncs/runner.py",
    "syncs/reconcile.py",
    "syncs/sending.py",
    "syncs/write_ahead.py",
    "syncs/erasure.py",
    "tests/syncs/test_send_erasure.py",
    "syncs/run_result.py",
    "connectors/sandbox_engagement.py",
    "connectors/receivers.py",
    "orchestration/sync_exposures.py",
    "orchestration/audience_rules/lowercase.py",
    "tests/test_import_layers.py",
    "tests/test_linters.py",
    "tests/connectors/test_sandbox_engagement.py",
    "tests/audiences/test_sync_exposures.py",
]
# Linted with sqlfluff; staging/ and intermediate/ join the list once they follow
# the same rules (see the README's Tests section).
SQL_PATHS = [
    "models/marts",
    "models/audiences",
    "models/reporting",
]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (
        f"{' '.join(cmd[:3])} found problems:\n{proc.stdout}\n{proc.stderr}"
    )


def test_ruff_check() -> None:
    _run([str(BIN / "ruff"), "check", *PYTHON_PACKAGES, "dbt_project/models"], ROOT)


def test_ruff_format() -> None:
    _run([str(BIN / "ruff"), "format", "--check", *FORMATTED], ROOT)


def test_sqlfluff_lint(tmp_path: Path) -> None:
    env = {
        **os.environ,
        # dbt renders the models against a throwaway warehouse file, never the real one
        "FERRY_DUCKDB_PATH": str(tmp_path / "lint.duckdb"),
        "FERRY_DBT_TARGET": "duckdb",
        "FERRY_DBT_PLUGINS_DIR": str(ROOT / "dbt_project" / "plugins"),
    }
    _run([str(BIN / "sqlfluff"), "lint", *SQL_PATHS], ROOT / "dbt_project", env)
