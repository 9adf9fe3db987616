"""Shared fixtures. Each area's fixtures live in its own conftest under tests/<area>/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from tests import prebuild

# Tests never reach the network and never touch the user's warehouse.
os.environ.setdefault("FERRY_ENV", "test")
# The tests choose the local vendor sandboxes explicitly (a destination without
# credentials otherwise refuses to build); tests of that refusal unset it.
os.environ["FERRY_SANDBOX"] = "1"

# CI must not fail on a random draw nobody can reproduce: the default profile walks
# the same examples every run. `HYPOTHESIS_PROFILE=explore` searches afresh (and
# wider) when hunting for new counter-examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def _prebuilds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start the background builds the selected tests need (tests/prebuild.py)."""
    prebuild.start(request.session.items, tmp_path_factory)
    yield
    prebuild.finish()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Areas that need no background build first, so they run while the worker builds."""
    prebuild.builds_last(items, Path(__file__).resolve().parent)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the background builds' time went (shown with --durations)."""
    lines = prebuild.summary()
    if lines and terminalreporter.config.getoption("durations", None) is not None:
        terminalreporter.write_sep("=", "background builds (tests/prebuild.py)")
        for line in lines:
            terminalreporter.write_line(line)


@prebuild.job("sample_warehouse_build", users=("ui_env",))
def _build_sample_warehouse(work: Path) -> tuple[Path, dict]:
    """orchestration.testing's sample warehouse (generated data built by dbt through the
    real Dagster definitions), once per session, in a subprocess with its own FERRY_HOME.
    The browser and orchestration tests copy the file."""
    path = work / "sample.duckdb"
    env = {**os.environ, "FERRY_HOME": str(work), "DAGSTER_HOME": str(work / "dagster")}
    info = prebuild.call_in_subprocess(
        "orchestration.testing", "build_sample_warehouse", path, env=env
    )
    return path, info


@pytest.fixture(scope="session")
def sample_warehouse_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(built sample warehouse, the build's report): copy the file, never write to it."""
    return prebuild.result("sample_warehouse_build", tmp_path_factory)
