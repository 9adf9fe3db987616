"""Portability: the same identity models, unchanged, on PostgreSQL give the same
profile ids as on DuckDB (md5 anchors, hex labels that sort alike in any collation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import prebuild
from tests.identity.harness import (
    dbt_build,
    make_project,
    query,
    write_inputs_postgres,
)
from tests.identity.scenarios import scenarios

pytestmark = pytest.mark.postgres


@prebuild.job("postgres_identity")
def _build_on_postgres(work: Path) -> dict[str, object]:
    """The scenarios built on a PostgreSQL server of their own, from a project copy of
    their own (in the background when the session starts); returns the connection info."""
    from tests.postgres_server import start_postgres

    server = start_postgres()
    prebuild.on_session_end(server.stop)
    conninfo = {
        "host": server.host,
        "port": server.port,
        "user": server.user,
        "password": server.password,
        "dbname": server.dbname,
    }
    write_inputs_postgres(conninfo, scenarios())
    dbt_build(make_project(work), None, target="postgres", env=server.env())
    return conninfo


@pytest.fixture(scope="module")
def postgres_identity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    try:
        return prebuild.result("postgres_identity", tmp_path_factory)
    except RuntimeError as exc:  # binaries missing: tests/system_deps.sh installs them
        pytest.skip(str(exc))


def test_postgres_build_gives_the_duckdb_profile_ids(
    postgres_identity: dict[str, object], scenario_db: Path
) -> None:
    import psycopg

    conninfo = postgres_identity
    sql = (
        "select distinct source, source_record_id, profile_id from marts.customer_identifiers"
        " order by 1, 2"
    )
    with psycopg.connect(**conninfo) as con:
        on_postgres = con.execute(sql).fetchall()
        profiles = con.execute(
            "select profile_id, first_name, email, email_is_valid, first_touch_utm_source"
            " from marts.customer_profiles order by 1"
        ).fetchall()
    on_duckdb = query(scenario_db, sql)
    assert len(on_postgres) > 2000
    assert on_postgres == on_duckdb
    assert profiles == query(
        scenario_db,
        "select profile_id, first_name, email, email_is_valid,"
        " first_touch_utm_source from marts.customer_profiles order by 1",
    )
