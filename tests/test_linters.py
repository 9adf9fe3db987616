"""The linters are part of the test run (`make test`): ruff over the Python
packages, sqlfluff (dbt templater, rules in dbt_project/.sqlfluff) over every
SQL file dbt renders (models and singular tests). A finding fails the run with
the linter's own report."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

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
    "syncs/write_ahead_windows.py",
    "syncs/lease.py",
    "syncs/erasure.py",
    "tests/syncs/test_send_erasure.py",
    "syncs/run_result.py",
    "connectors/sandbox_engagement.py",
    "connectors/receivers.py",
    "orchestration/sync_exposures.py",
    "orchestration/audience_rules/lowercase.py",
    "tests/test_import_layers.py",
    "tests/test_linters.py",
    "tests/test_dbt_project_rules.py",
    "tests/connectors/test_sandbox_engagement.py",
    "tests/audiences/test_sync_exposures.py",
    "connectors/request_hold.py",
    "syncs/throttle.py",
    "tests/syncs/test_shared_quota.py",
]
DBT_PROJECT = ROOT / "dbt_project"
# Linted with sqlfluff: every SQL file dbt renders. Macros (and generic tests, which
# are macros) are not: the dbt templater skips them, and sqlfluff reports only on a
# model's own text. A model disabled on duckdb (fuzzy/portable) is skipped too.
SQL_PATHS = ["models", "tests"]
# What else decides how a file renders or which rules apply: a change to any of
# these lints every file again (see _clean_cache).
LINT_CONTEXT = [".sqlfluff", "dbt_project.yml", "profiles.yml", "macros", "models"]
CACHE_KEY = "ferry/sqlfluff-clean"


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (
        f"{' '.join(cmd[:3])} found problems:\n{proc.stdout}\n{proc.stderr}"
    )


def test_ruff_check() -> None:
    _run([str(BIN / "ruff"), "check", *PYTHON_PACKAGES, "dbt_project/models"], ROOT)


def test_ruff_format() -> None:
    _run([str(BIN / "ruff"), "format", "--check", *FORMATTED], ROOT)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(DBT_PROJECT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _lint_context() -> str:
    """sqlfluff's version, its config, the project's settings, macros and YAML."""
    files = []
    for name in LINT_CONTEXT:
        path = DBT_PROJECT / name
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in {".sql", ".yml", ".md"} and p.is_file()
                            and (name == "macros" or p.suffix != ".sql"))  # fmt: skip
        else:
            files.append(path)
    return f"{version('sqlfluff')}|{version('sqlfluff-templater-dbt')}|{_digest(files)}"


def _sql_files() -> list[Path]:
    return sorted(p for name in SQL_PATHS for p in (DBT_PROJECT / name).rglob("*.sql"))


def test_sqlfluff_lint(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Lints the SQL files not already found clean with the same context.

    Why a cache: sqlfluff parses each file as dbt renders it (the staging models
    expand to pages of SQL), about a minute for the project on this machine, and
    most runs change no SQL. A file is skipped only when it and everything that
    shapes its rendering (LINT_CONTEXT, sqlfluff's version) are byte-identical to
    a run that found it clean; pytest's cache (.pytest_cache, or none with
    `-p no:cacheprovider`) holds those keys.
    """
    cache = getattr(request.config, "cache", None)
    context = _lint_context()
    keys = {
        path: hashlib.sha256(f"{context}|{_digest([path])}".encode()).hexdigest()
        for path in _sql_files()
    }
    clean = set(cache.get(CACHE_KEY, [])) if cache else set()
    todo = [path for path, key in keys.items() if key not in clean]
    if todo:
        env = {
            **os.environ,
            # dbt renders the models against a throwaway warehouse file, never the real one
            "FERRY_DUCKDB_PATH": str(tmp_path / "lint.duckdb"),
            "FERRY_DBT_TARGET": "duckdb",
            "FERRY_DBT_PLUGINS_DIR": str(DBT_PROJECT / "plugins"),
        }
        cmd = [str(BIN / "sqlfluff"), "lint", "--format", "json", "--nofail",
               *(str(p.relative_to(DBT_PROJECT)) for p in todo)]  # fmt: skip
        proc = subprocess.run(
            cmd, cwd=DBT_PROJECT, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, (
            f"sqlfluff could not run:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
        results = json.loads(proc.stdout)
        findings = [
            f"{r['filepath']}:{v['start_line_no']}:{v['start_line_pos']}: {v['code']} {v['description']}"
            for r in results
            for v in r["violations"]
        ]
        dirty = {DBT_PROJECT / r["filepath"] for r in results if r["violations"]}
        clean |= {keys[p] for p in todo if p not in dirty}
        if cache:
            cache.set(CACHE_KEY, sorted(clean & set(keys.values())))
        assert not findings, "sqlfluff found problems (`make lint` shows them):\n" + "\n".join(
            findings
        )
