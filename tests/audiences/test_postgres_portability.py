"""The same scores, consent and audience models, unit tests included, build on
PostgreSQL (the project must run unchanged there) and give the same members and
the same hash-split variants as on DuckDB."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests import prebuild
from tests.audiences.contract_fixture import AS_OF, create_contract_tables, stub_project
from tests.audiences.dbt_helpers import run_dbt
from tests.audiences.test_audience_models import EXPECTED
from tests.postgres_server import start_postgres

pytestmark = pytest.mark.postgres


@prebuild.job("audiences_on_postgres")
def _build_on_postgres(work: Path) -> str:
    """This area's models, unit tests included, built on a PostgreSQL server of their own
    (in the background when the session starts, tests/prebuild.py); returns its DSN."""
    server = start_postgres()
    prebuild.on_session_end(server.stop)
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        create_contract_tables(conn)
    project = stub_project(work)
    env = {**server.env(), "FERRY_DBT_TARGET": "postgres"}
    run_dbt(
        project,
        work / "unused.duckdb",
        ["build", "--select", "path:models"],
        as_of=AS_OF.isoformat(sep=" "),
        env_extra=env,
    )
    return server.dsn


@pytest.fixture(scope="module")
def audiences_on_postgres(tmp_path_factory: pytest.TempPathFactory) -> str:
    return prebuild.result("audiences_on_postgres", tmp_path_factory)


def test_models_build_on_postgres_with_the_same_members(audiences_on_postgres: str) -> None:
    with psycopg.connect(audiences_on_postgres) as conn:
        for audience, expected in EXPECTED.items():
            got = {
                r[0]
                for r in conn.execute(f"select profile_id from audiences.{audience}").fetchall()
            }
            assert got == expected, audience
        variants = dict(
            conn.execute("select profile_id, variant from audiences.aud_win_back").fetchall()
        )
        [(pressure,)] = conn.execute(
            "select pressure from marts.marketing_pressure where profile_id = 'p01' and channel = 'email'"
        ).fetchall()
    assert pressure == pytest.approx(1.75)
    import hashlib

    for profile_id, variant in variants.items():
        bucket = int(hashlib.md5(f"{profile_id}:aud_win_back".encode()).hexdigest()[:8], 16) % 10000
        assert variant == ("holdout" if bucket < 1000 else "treatment")
