"""Orchestration tests run against their own warehouse and Dagster home, never the user's.

The environment is switched for the tests of this folder only (and restored),
so other areas' tests in the same session keep theirs. The warehouse (sample
data built by dbt through the real Dagster definitions) is built once per
session and shared; tests that change it restore it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_VENDOR_PREFIXES = ("SENDGRID_", "TWILIO_", "META_", "GOOGLE_ADS_", "FERRY_WEBHOOK_", "FERRY_ALERT_")


@pytest.fixture(scope="session", autouse=True)
def orchestration_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("orchestration")
    saved = dict(os.environ)
    os.environ.update(
        FERRY_HOME=str(root),
        FERRY_DUCKDB_PATH=str(root / "warehouse.duckdb"),
        DAGSTER_HOME=str(root / "dagster"),
        FERRY_EXPORT_DIR=str(root / "exports"),
    )
    (root / "dagster").mkdir(exist_ok=True)
    # No credentials: every destination talks to its local sandbox in this process.
    for name in list(os.environ):
        if name.startswith(_VENDOR_PREFIXES):
            del os.environ[name]
    yield root
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def warehouse_path(orchestration_env) -> Path:
    return Path(os.environ["FERRY_DUCKDB_PATH"])


@pytest.fixture(scope="session")
def sample_warehouse(warehouse_path: Path) -> dict:
    """Sample data generated and built (staging -> audiences, with the GE gates) once per session."""
    from orchestration.testing import sample_warehouse as built

    info = built(warehouse_path)
    assert info["success"], f"warehouse phase failed: {info['failures']}"
    return info
