"""Orchestration tests run against their own warehouse and Dagster home, never the user's.

The environment is switched for the tests of this folder only (and restored),
so other areas' tests in the same session keep theirs. The warehouse (sample
data built by dbt through the real Dagster definitions) is built once per
session and shared; tests that change it restore it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

_VENDOR_PREFIXES = (
    "SENDGRID_",
    "TWILIO_",
    "META_",
    "GOOGLE_ADS_",
    "FERRY_WEBHOOK_",
    "FERRY_ALERT_",
)


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
def sample_warehouse(warehouse_path: Path, sample_warehouse_build: tuple[Path, dict]) -> dict:
    """Sample data generated and built (staging -> audiences, with the GE gates) once per
    session (tests/conftest.py), copied to this folder's warehouse."""
    built, info = sample_warehouse_build
    assert info["success"], f"warehouse phase failed: {info['failures']}"
    shutil.copyfile(built, warehouse_path)
    return info


_SANDBOX_MODULES = (
    "connectors.sendgrid.sandbox",
    "connectors.twilio.sandbox",
    "connectors.webhook.sandbox",
    "connectors.google_ads.sandbox",
    "connectors.google_ads.datamanager_sandbox",
    "connectors.meta.sandbox",
)


@pytest.fixture
def fresh_sandboxes(monkeypatch):
    """Process-wide sandboxes replaced by new ones for this test (the old ones come back after).

    Meta's sandbox reports sizes from one matched person on (its floor is 100 by
    default), so small test audiences still show a size and a match rate.
    """
    import importlib

    from connectors.meta.sandbox import MetaSandbox

    modules = [importlib.import_module(name) for name in _SANDBOX_MODULES]
    for module in modules:
        monkeypatch.setattr(module, "_LOCAL", None)
    meta = importlib.import_module("connectors.meta.sandbox")
    monkeypatch.setattr(meta, "_LOCAL", MetaSandbox(match_rate=0.75, floor=1).start())
    yield
    for module in modules:
        if module._LOCAL is not None:
            module._LOCAL.stop()
