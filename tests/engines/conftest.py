"""Fixtures for the engine tests: one generated dataset, a DuckDB baseline built from
it, and a throwaway PostgreSQL server for the session."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests import prebuild
from tests.engines.clusters import IDENTIFIERS_SQL, partition
from tests.engines.dbt_cli import DbtJob, start_dbt

PEOPLE = 200
SEED = 42
AS_OF = dt.date(2026, 6, 1)
# Fuzzy (Splink) links run only on DuckDB; engines are compared on deterministic identity.
DBT_VARS = {"ferry_as_of": AS_OF.isoformat(), "fuzzy_matching_enabled": False}
# dbt unit tests whose expectations only libphonenumber meets (number ranges): off
# DuckDB, phones follow the portable rules (docs/engines.md), so engines skip them.
DUCKDB_ONLY_TESTS = ["--exclude", "tag:libphonenumber"]
# DuckDB files have this name in every folder, so dbt runs share a parse (tests/partial_parse.py).
WAREHOUSE = "warehouse.duckdb"


@prebuild.job("postgres_server")
def _start_postgres(_work: Path) -> object:
    from tests.postgres_server import start_postgres

    server = start_postgres()
    prebuild.on_session_end(server.stop)
    return server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> object:
    """A PostgreSQL 15 cluster on 127.0.0.1 in a temporary directory, removed at the end
    of the session (started in the background when the session starts)."""
    try:
        return prebuild.result("postgres_server", tmp_path_factory)
    except RuntimeError as exc:  # binaries missing: tests/system_deps.sh installs them
        pytest.skip(str(exc))


@prebuild.job("generated_raw")
def _generate_raw(work: Path) -> Path:
    return prebuild.generate(work / "generated.duckdb", PEOPLE, SEED, AS_OF)


@pytest.fixture(scope="session")
def generated_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding only the raw schema: `ferry generate --people 200`."""
    return prebuild.result("generated_raw", tmp_path_factory)


@dataclass
class DuckdbBaseline:
    """The identity marts built on DuckDB from the generated data (in the background)."""

    path: Path
    job: DbtJob
    _done: bool = False

    def wait(self) -> Path:
        if not self._done:
            self.job.wait_ok()
            self._done = True
        return self.path

    def clusters(self) -> set[frozenset[tuple[str, str]]]:
        with duckdb.connect(str(self.wait()), read_only=True) as con:
            return partition(con.execute(IDENTIFIERS_SQL).fetchall())


@prebuild.job("duckdb_baseline")
def _build_duckdb_baseline(work: Path) -> DuckdbBaseline:
    path = work / WAREHOUSE
    shutil.copy(prebuild.result("generated_raw"), path)
    # No data or unit tests (`resource_type:test` leaves unit tests in): this build is the
    # clusters' baseline; the same unit tests run on DuckDB in tests/data/test_source_registry.py's
    # full builds and on PostgreSQL in test_postgres_pipeline.py.
    job = start_dbt(
        ["build", "--select", "+customer_identifiers",
         "--exclude", "resource_type:test", "resource_type:unit_test"],  # fmt: skip
        target="duckdb",
        work=work,
        env={},
        dbt_vars=DBT_VARS,
        warehouse=path,
    )
    baseline = DuckdbBaseline(path, job)
    baseline.wait()
    return baseline


@pytest.fixture(scope="session")
def duckdb_baseline(tmp_path_factory: pytest.TempPathFactory) -> DuckdbBaseline:
    """A build of +customer_identifiers (models and seeds, no tests) on DuckDB, made in
    the background while earlier tests (and the other engines' builds) run."""
    return prebuild.result("duckdb_baseline", tmp_path_factory)
