"""Where Ferry keeps its files: one place, so the CLI, Dagster and tests agree.

Everything defaults to folders inside the project (git-ignored) and can be moved
with environment variables.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# The committed Splink model and the nickname seed the matcher (identity/) reads.
FUZZY_MODEL_PATH = DBT_PROJECT_DIR / "fuzzy" / "splink_model.json"
FUZZY_NICKNAMES_PATH = DBT_PROJECT_DIR / "seeds" / "fuzzy_nicknames.csv"


def ferry_home() -> Path:
    return Path(os.environ.get("FERRY_HOME", PROJECT_ROOT / ".ferry")).resolve()


def duckdb_path() -> Path:
    """The embedded warehouse: FERRY_DUCKDB_PATH, default `.ferry/ferry.duckdb`."""
    default = ferry_home() / "ferry.duckdb"
    return Path(os.environ.get("FERRY_DUCKDB_PATH", default)).resolve()


def export_warehouse_env() -> Path:
    """Pin the absolute warehouse path in the environment so dbt (cwd = dbt_project) sees it."""
    path = duckdb_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.environ["FERRY_DUCKDB_PATH"] = str(path)
    # dbt-duckdb loads the normalisation UDF plugin from here, whatever the cwd.
    os.environ.setdefault("FERRY_DBT_PLUGINS_DIR", str(DBT_PROJECT_DIR / "plugins"))
    return path
