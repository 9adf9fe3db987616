"""Fixtures for the identity tests: the hand-made scenarios built on a throwaway copy of
the identity project (each background build has a copy and a DuckDB file of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import prebuild
from tests.identity.harness import dbt_build, make_project, write_inputs
from tests.identity.scenarios import scenarios


@prebuild.job("scenario_db")
def build_scenarios(work: Path) -> Path:
    """DuckDB warehouse after one `dbt build` of all hand-made scenarios, on a project copy
    of its own (made in the background when the session starts, tests/prebuild.py)."""
    project = make_project(work)
    db = work / "warehouse.duckdb"
    write_inputs(db, scenarios())
    dbt_build(project, db)
    return db


@pytest.fixture(scope="session")
def scenario_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prebuild.result("scenario_db", tmp_path_factory)
