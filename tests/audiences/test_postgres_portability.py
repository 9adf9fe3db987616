"""The same scores, consent and audience models, unit tests included, build on
PostgreSQL (the project must run unchanged there) and give the same members and
the same hash-split variants as on DuckDB."""

from __future__ import annotations

import psycopg
import pytest

from tests.audiences.contract_fixture import AS_OF, create_contract_tables, stub_project
from tests.audiences.dbt_helpers import run_dbt
from tests.audiences.test_audience_models import EXPECTED
from tests.postgres_server import start_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server():
    pg = start_postgres()
    yield pg
    pg.stop()


def test_models_build_on_postgres_with_the_same_members(server, tmp_path):
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        create_contract_tables(conn)
    project = stub_project(tmp_path)
    env = {**server.env(), "FERRY_DBT_TARGET": "postgres"}
    run_dbt(
        project,
        tmp_path / "unused.duckdb",
        ["build", "--select", "path:models"],
        as_of=AS_OF.isoformat(sep=" "),
        env_extra=env,
    )
    with psycopg.connect(server.dsn) as conn:
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
