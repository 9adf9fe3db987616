"""The throwaway PostgreSQL server the postgres tests rely on really serves SQL."""

from __future__ import annotations

import psycopg
import pytest

from tests.postgres_server import start_postgres


@pytest.mark.postgres
def test_throwaway_cluster_serves_sql_and_is_removed() -> None:
    server = start_postgres()
    try:
        with psycopg.connect(server.dsn) as conn:
            assert conn.execute("select 40 + 2").fetchone() == (42,)
            assert conn.info.host == "127.0.0.1"
    finally:
        server.stop()
    assert not server.data_dir.exists()
