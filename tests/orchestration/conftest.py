"""Orchestration tests run against their own warehouse and Dagster home, never the user's.

The warehouse (sample data built by dbt through the real Dagster definitions)
is built once per session and shared; tests that change it restore it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before anything imports orchestration.definitions (resources pin paths at load).
_ROOT = Path(tempfile.mkdtemp(prefix="ferry-orch-tests-"))
os.environ["FERRY_HOME"] = str(_ROOT)
os.environ["FERRY_DUCKDB_PATH"] = str(_ROOT / "warehouse.duckdb")
os.environ["DAGSTER_HOME"] = str(_ROOT / "dagster")
os.environ["FERRY_EXPORT_DIR"] = str(_ROOT / "exports")
(_ROOT / "dagster").mkdir(exist_ok=True)
# No credentials: every destination talks to its local sandbox in this process.
for _name in list(os.environ):
    if _name.startswith(("SENDGRID_", "TWILIO_", "META_", "GOOGLE_ADS_", "FERRY_WEBHOOK_", "FERRY_ALERT_")):
        del os.environ[_name]


@pytest.fixture(scope="session")
def warehouse_path() -> Path:
    return Path(os.environ["FERRY_DUCKDB_PATH"])


@pytest.fixture(scope="session")
def sample_warehouse(warehouse_path: Path) -> dict:
    """Sample data generated and built (staging -> audiences, with checks) once per session."""
    from orchestration.testing import sample_warehouse as built

    info = built(warehouse_path)
    assert info["success"], f"warehouse phase failed: {info['failures']}"
    return info
