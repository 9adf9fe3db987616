"""Dagster resources, configured from environment variables with embedded defaults.

- ``dbt``: the dagster-dbt CLI resource on the one cached DbtProject.
- ``warehouse``: the active dbt target's warehouse (FERRY_DBT_TARGET: the embedded
  DuckDB file at FERRY_DUCKDB_PATH, or PostgreSQL), used by checks and syncs.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource, EnvVar
from dagster_dbt import DbtCliResource

from orchestration.assets.dbt_project import ferry_dbt_project
from orchestration.paths import export_warehouse_env
from orchestration.warehouse_target import WarehouseTarget, active_target


class WarehouseResource(ConfigurableResource):
    """The warehouse the checks read and the sync engine diffs in: the active dbt target's.

    Why a path and not a connection: DuckDB allows one writing process per file,
    so every step opens, uses and closes its connection; runs on the embedded
    default execute in one process (see definitions.py). ``target`` names a dbt
    target of profiles.yml (empty: the profile's own, i.e. FERRY_DBT_TARGET); a
    PostgreSQL target yields a psycopg connection, an unsupported one (Spark)
    fails the step with a clear message. Engagement stores stay on the DuckDB
    file (``duckdb_path``).
    """

    duckdb_path: str
    target: str = ""

    def warehouse_target(self) -> WarehouseTarget:
        return active_target(self.target or None, Path(self.duckdb_path))

    @contextmanager
    def connect(self) -> Iterator[Any]:
        target = self.warehouse_target()
        if target.type == "duckdb":
            Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)
            conn = duckdb.connect(self.duckdb_path)
        else:
            conn = target.connect()
        try:
            yield conn
        finally:
            conn.close()


def dbt_executable() -> str:
    """The dbt installed next to this Python (the venv), else whatever is on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_resources() -> dict[str, object]:
    """Resources for the Definitions: paths are pinned now so run processes agree with the loader."""
    export_warehouse_env()
    return {
        "dbt": DbtCliResource(project_dir=ferry_dbt_project(), dbt_executable=dbt_executable()),
        "warehouse": WarehouseResource(
            duckdb_path=EnvVar("FERRY_DUCKDB_PATH"), target=os.environ.get("FERRY_DBT_TARGET", "")
        ),
    }
