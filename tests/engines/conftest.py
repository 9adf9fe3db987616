"""Fixtures for the engine tests: one generated dataset, a DuckDB baseline built from
it, and a throwaway PostgreSQL server for the session."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A PostgreSQL 15 cluster on 127.0.0.1 in a temporary directory, removed afterwards."""
    from tests.postgres_server import start_postgres

    try:
        server = start_postgres()
    except RuntimeError as exc:  # binaries missing: tests/system_deps.sh installs them
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def generated_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file holding only the raw schema: `ferry generate --people 200`."""
    from orchestration.sample_data import generate

    path = tmp_path_factory.mktemp("engines-raw") / "generated.duckdb"
    generate(PEOPLE, SEED, path, as_of=AS_OF)
    return path


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


@pytest.fixture(scope="session")
def duckdb_baseline(
    generated_raw: Path, tmp_path_factory: pytest.TempPathFactory
) -> DuckdbBaseline:
    """Starts a build of +customer_identifiers (models and seeds, no tests) on DuckDB; other engines build meanwhile."""
    work = tmp_path_factory.mktemp("engines-duckdb")
    path = work / "ferry.duckdb"
    shutil.copy(generated_raw, path)
    job = start_dbt(
        ["build", "--select", "+customer_identifiers", "--exclude", "resource_type:test"],
        target="duckdb",
        work=work,
        env={"FERRY_DUCKDB_PATH": str(path)},
        dbt_vars=DBT_VARS,
    )
    return DuckdbBaseline(path, job)
