"""Portability: the same identity models, unchanged, on PostgreSQL give the same
profile ids as on DuckDB (md5 anchors, hex labels that sort alike in any collation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.identity.harness import dbt_build, query, write_inputs_postgres
from tests.identity.scenarios import scenarios

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres() -> dict[str, object]:
    from tests.postgres_server import start_postgres

    try:
        server = start_postgres()
    except RuntimeError as exc:  # binaries missing: tests/system_deps.sh installs them
        pytest.skip(str(exc))
    yield server
    server.stop()


def test_postgres_build_gives_the_duckdb_profile_ids(
    postgres, identity_project_dir: Path, scenario_db: Path
) -> None:
    import psycopg

    conninfo = {
        "host": postgres.host,
        "port": postgres.port,
        "user": postgres.user,
        "password": postgres.password,
        "dbname": postgres.dbname,
    }
    write_inputs_postgres(conninfo, scenarios())
    dbt_build(identity_project_dir, None, target="postgres", env=postgres.env())
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
