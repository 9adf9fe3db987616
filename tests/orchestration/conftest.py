"""Orchestration tests run against their own warehouse and Dagster home, never the user's."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Set before anything imports orchestration.definitions (resources pin paths at load).
_ROOT = Path(tempfile.mkdtemp(prefix="ferry-orch-tests-"))
os.environ["FERRY_HOME"] = str(_ROOT)
os.environ["FERRY_DUCKDB_PATH"] = str(_ROOT / "warehouse.duckdb")
os.environ["DAGSTER_HOME"] = str(_ROOT / "dagster")
(_ROOT / "dagster").mkdir(exist_ok=True)
