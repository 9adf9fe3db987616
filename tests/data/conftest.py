"""Fixtures for the data tests: one small generated warehouse per session, built
through staging, intermediate.unioned and intermediate.quarantine with dbt."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.paths import DBT_PROJECT_DIR
from tests import partial_parse, prebuild

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
    "intermediate.tool_engagement",
]
PEOPLE = 300
SEED = 7


@prebuild.job("raw_db")
def generate_raw(work: Path) -> Path:
    return prebuild.generate(work / "generated.duckdb", PEOPLE, SEED, AS_OF)


@pytest.fixture(scope="session")
def raw_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prebuild.result("raw_db", tmp_path_factory)


DBT_VARS = {"ferry_as_of": AS_OF.isoformat()}
# The warehouse file's name, the same in every folder: dbt reuses a parse only for the
# same connection settings (tests/partial_parse.py).
WAREHOUSE = "warehouse.duckdb"


def run_dbt(
    args: list[str], duckdb_file: Path, work: Path, project: Path = DBT_PROJECT_DIR
) -> subprocess.CompletedProcess[str]:
    """dbt in a subprocess with its own target/log paths and warehouse file (named
    WAREHOUSE, run from its folder); starts from the session's saved parse (of the
    repository's project; another `project`, e.g. a copy with one more source, parses
    on its own)."""
    assert duckdb_file.name == WAREHOUSE, duckdb_file
    env = {
        **os.environ,
        "FERRY_DUCKDB_PATH": WAREHOUSE,
        "FERRY_DBT_TARGET": "duckdb",
        "FERRY_DBT_PLUGINS_DIR": str(DBT_PROJECT_DIR / "plugins"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).parent / "dbt"
    target = work / "target"
    cmd = [
        str(dbt),
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps(DBT_VARS),
    ]
    parse_key = partial_parse.key(project, DBT_VARS, "duckdb", WAREHOUSE)
    partial_parse.seed(target, parse_key)
    done = subprocess.run(
        cmd, check=False, cwd=duckdb_file.parent, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    partial_parse.save(target, parse_key)
    return done


@prebuild.job("built_db")
def build_data_layers(work: Path) -> Path:
    """A copy of the generated warehouse (raw_db) after `dbt build` of this area's layers."""
    path = work / WAREHOUSE
    shutil.copyfile(prebuild.result("raw_db"), path)
    # Source tests (key uniqueness, loader ids) are asserted on the raw tables by
    # test_generator.py; skipping them here keeps this fixture within its time budget.
    result = run_dbt(["build", "--select", *DATA_LAYERS, "--exclude", "source:*"], path, work)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return path


@pytest.fixture(scope="session")
def built_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built warehouse; made in the background while earlier tests run (tests/prebuild.py)."""
    return prebuild.result("built_db", tmp_path_factory)


@pytest.fixture()
def con_built(built_db: Path):
    with duckdb.connect(str(built_db), read_only=True) as con:
        yield con


@pytest.fixture()
def con_raw(raw_db: Path):
    with duckdb.connect(str(raw_db), read_only=True) as con:
        yield con
