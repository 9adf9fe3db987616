"""Fixtures for the identity tests: one throwaway copy of the identity project for the
session (dbt parses it once; later builds reuse the partial parse), one DuckDB file
per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.identity.harness import dbt_build, make_project, write_inputs
from tests.identity.scenarios import scenarios


@pytest.fixture(scope="session")
def identity_project_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("identity_project"))


@pytest.fixture(scope="module")
def identity_project(
    identity_project_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """(copied dbt project dir, DuckDB file private to one test module)."""
    return identity_project_dir, tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"


@pytest.fixture(scope="session")
def scenario_db(identity_project_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DuckDB warehouse after one `dbt build` of all hand-made scenarios."""
    db = tmp_path_factory.mktemp("scenarios") / "warehouse.duckdb"
    write_inputs(db, scenarios())
    dbt_build(identity_project_dir, db)
    return db
