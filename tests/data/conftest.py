"""Fixtures for the data tests: one small generated warehouse per session, built
through staging, intermediate.unioned and intermediate.quarantine with dbt."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.paths import DBT_PROJECT_DIR
from orchestration.sample_data import generate

AS_OF = dt.date(2026, 11, 25)
# This area's dbt layers: the generator's sources (other staging folders belong to
# engagement sources whose raw tables the generator does not write).
DATA_SOURCES = ("crm", "shop", "web", "support", "forms", "product", "consent")
DATA_LAYERS = [
    *(f"staging.{s}" for s in DATA_SOURCES),
    "intermediate.unioned",
    "intermediate.quarantine",
    # engagement pulled back from the tools is unioned into int_events/int_identifiers
    "staging.sendgrid",
    "staging.twilio",
]
PEOPLE = 300
SEED = 7


@pytest.fixture(scope="session")
def raw_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data_raw") / "generated.duckdb"
    generate(PEOPLE, SEED, path, as_of=AS_OF)
    return path


def run_dbt(
    args: list[str], duckdb_file: Path, work: Path, target: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """dbt in a subprocess with its own target/log paths and warehouse file."""
    env = {
        **os.environ,
        "FERRY_DUCKDB_PATH": str(duckdb_file),
        "FERRY_DBT_TARGET": "duckdb",
        "FERRY_DBT_PLUGINS_DIR": str(DBT_PROJECT_DIR / "plugins"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [
        str(dbt),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target or work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        f"{{ferry_as_of: '{AS_OF.isoformat()}'}}",
    ]
    return subprocess.run(
        cmd, check=False, cwd=work, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="session")
def built_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated warehouse (same seed as raw_db) after `dbt build` of this area's layers.

    The dbt target dir and the warehouse file live in pytest's cache dir (git-ignored,
    private to this fixture) at a stable path, so dbt can reuse its partial parse
    between sessions: a full parse of the whole project costs more than the build.
    The warehouse is deleted and regenerated every session."""
    work = tmp_path_factory.mktemp("data_built")
    pytest_cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache = Path(pytest_cache.mkdir("ferry-data-dbt")) if pytest_cache else work / "dbt-cache"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "built.duckdb"
    for stale in (path, cache / "built.duckdb.wal"):
        stale.unlink(missing_ok=True)
    generate(PEOPLE, SEED, path, as_of=AS_OF)
    # Source tests (key uniqueness, loader ids) are asserted on the raw tables by
    # test_generator.py; skipping them here keeps this fixture within its time budget.
    result = run_dbt(
        ["build", "--select", *DATA_LAYERS, "--exclude", "source:*"],
        path,
        work,
        target=cache / "target",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return path


@pytest.fixture()
def con_built(built_db: Path):
    with duckdb.connect(str(built_db), read_only=True) as con:
        yield con


@pytest.fixture()
def con_raw(raw_db: Path):
    with duckdb.connect(str(raw_db), read_only=True) as con:
        yield con
