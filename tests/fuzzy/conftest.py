"""Helpers for the fuzzy-matching tests: a private copy of the fuzzy part of the
dbt project (so a test can write the steward's review file, and so the rest of
the project, built by others, neither slows nor breaks these tests), and dbt
runs against a throwaway DuckDB file through the real dbt CLI.

The contract models the fuzzy models read (int_person_records, int_identifiers)
are replaced by stubs selecting from tables the test writes into schema
test_input.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.paths import DBT_PROJECT_DIR

DBT = Path(sys.executable).with_name("dbt")

FUZZY_PATHS = (
    "dbt_project.yml",
    "profiles.yml",
    "fuzzy/splink_model.json",
    "macros/generate_schema_name.sql",
    "macros/fuzzy",
    "macros/sources/registry.sql",
    "models/intermediate/fuzzy",
    "models/marts/identity",
    "seeds/fuzzy_nicknames.csv",
    "seeds/fuzzy_review_decisions.csv",
    "seeds/_fuzzy__seeds.yml",
)

STUBS = {
    "int_person_records": "select * from test_input.person_records",
    "int_identifiers": "select * from test_input.identifiers",
}


@dataclass
class DbtWorkspace:
    """One dbt project copy + one warehouse file + one target dir (partial parsing
    survives between runs because the project and profile stay the same)."""

    project: Path
    warehouse: Path
    target: Path
    logs: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "FERRY_DUCKDB_PATH": str(self.warehouse),
            "FERRY_DBT_TARGET": "duckdb",
            # the profile's DuckDB plugin (normalisation UDFs) lives in the real project
            "FERRY_DBT_PLUGINS_DIR": str(DBT_PROJECT_DIR / "plugins"),
        }
        cmd = [
            str(DBT), *args,
            "--project-dir", str(self.project), "--profiles-dir", str(self.project),
            "--target-path", str(self.target), "--log-path", str(self.logs),
        ]
        proc = subprocess.run(cmd, check=False, env=env, cwd=self.project, capture_output=True, text=True)
        if proc.returncode:
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}")
        return proc

    def build_fuzzy(self) -> None:
        self.run("build")

    def write_decisions(self, rows: list[tuple[str, str, str, str, str]]) -> None:
        lines = ["source_a,source_record_id_a,source_b,source_record_id_b,decision,reviewer,decided_at"]
        lines += [",".join(r) + ",steward@example.com,2026-11-01 10:00:00" for r in rows]
        (self.project / "seeds" / "fuzzy_review_decisions.csv").write_text("\n".join(lines) + "\n")

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse)) as con:
            return con.sql(sql).fetchall()


def copy_fuzzy_project(dest: Path) -> Path:
    """The fuzzy models, seeds and what they need, plus stub contract models."""
    for rel in FUZZY_PATHS:
        src, dst = DBT_PROJECT_DIR / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            # portable/: the no-pairs stand-in for other adapters, not built on DuckDB
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("portable"))
        else:
            shutil.copy2(src, dst)
    stubs = dest / "models" / "intermediate" / "unioned"
    stubs.mkdir(parents=True, exist_ok=True)
    for name, sql in STUBS.items():
        (stubs / f"{name}.sql").write_text(sql + "\n")
    return dest


@pytest.fixture(scope="session")
def fuzzy_workspace(tmp_path_factory: pytest.TempPathFactory) -> DbtWorkspace:
    root = tmp_path_factory.mktemp("fuzzy_dbt")
    project = copy_fuzzy_project(root / "dbt_project")
    return DbtWorkspace(project, root / "warehouse.duckdb", root / "target", root / "logs")
