"""DuckDB column compression of what a run writes: ZSTD for the string columns of mostly
distinct values (Warehouse.string_compression), DuckDB's default for the rest, and
warehouses whose tables or storage predate it run unchanged."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from syncs import engine
from syncs import state as st
from syncs.warehouse import Warehouse
from tests.syncs.conftest import create_warehouse, make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination
from tests.syncs.test_failures import killed_mirror_run, rows

ZSTD_COLUMNS = {
    "sync_state": {"record_key", "payload_hash", "identifiers_json", "profile_id"},
    "record_results": {"record_key"},
}

# ferry_sync's tables as releases before ZSTD created them (no compression clause).
PREVIOUS_DDL = [
    "create schema if not exists ferry_sync",
    """create table ferry_sync.sync_state (
        sync_name varchar not null, record_key varchar not null, payload_hash varchar not null,
        identifiers_json varchar, destination_id varchar, synced_at timestamp, run_id varchar,
        destination_key varchar, profile_id varchar, payload_fp bigint)""",
    """create table ferry_sync.record_results (
        run_id varchar not null, sync_name varchar not null, record_key varchar not null,
        operation varchar not null, status varchar not null, error varchar, attempt integer,
        destination_id varchar, recorded_at timestamp, plan_operation varchar)""",
]


def file_of_storage_version(path: Path, version: str) -> duckdb.DuckDBPyConnection:
    """A database file written for DuckDB `version`'s storage, opened as a warehouse is."""
    with duckdb.connect() as maker:
        maker.execute(f"attach '{path}' as f (storage_version '{version}')")
    return duckdb.connect(str(path))


def compression(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, set[str]]:
    """column -> the compressions of its string segments in the database file."""
    conn.execute("checkpoint")
    found: dict[str, set[str]] = {}
    for column, kind in conn.execute(
        f"select column_name, compression from pragma_storage_info('{table}') "
        "where segment_type = 'VARCHAR'"
    ).fetchall():
        found.setdefault(column, set()).add(kind)
    return found


def test_state_and_results_keep_distinct_valued_strings_under_zstd(conn) -> None:
    set_audience(conn, rows(50))
    r = engine.run(make_sync("mirror"), conn, LoopbackDestination())
    assert r.status == "success" and r.sent == 50
    for table, zstd in ZSTD_COLUMNS.items():
        found = compression(conn, f"{st.SCHEMA}.{table}")
        assert {c for c, kinds in found.items() if kinds == {"ZSTD"}} == zstd, (table, found)


def test_a_killed_runs_pending_tables_are_zstd_and_folded_by_the_next_run(conn) -> None:
    sync, dest = killed_mirror_run(conn)
    (pending,) = conn.execute(
        "select table_name from information_schema.tables where table_name like 'pending_%' "
        "order by table_name limit 1"
    ).fetchone()
    assert compression(conn, f"{st.SCHEMA}.{pending}") == {
        "record_key": {"ZSTD"},
        "identifiers_json": {"ZSTD"},
    }
    dest.fault = None
    assert engine.run(sync, conn, dest).status == "success"
    assert len(dest.members) == 20


def test_a_warehouse_with_the_previous_table_definitions_runs_and_converges(tmp_path) -> None:
    """Existing tables keep their definition (create table if not exists): same rows, same
    answers, DuckDB's default compression."""
    conn = duckdb.connect(str(tmp_path / "old.duckdb"))
    create_warehouse(conn)
    for stmt in PREVIOUS_DDL:
        conn.execute(stmt)
    sync, dest = make_sync("mirror"), LoopbackDestination()
    set_audience(conn, rows(30))
    assert engine.run(sync, conn, dest).sent == 30
    set_audience(conn, rows(20) + [("p99", "new@x.com", "New", "treatment")])
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.sent == 11  # 10 removed, 1 added
    assert engine.plan(sync, conn, sample_size=0).work == 0
    assert set(dest.members) == {f"p{i}" for i in range(20)} | {"p99"}
    for table in ZSTD_COLUMNS:
        (sql,) = conn.execute(
            "select sql from duckdb_tables() where schema_name = ? and table_name = ?",
            [st.SCHEMA, table],
        ).fetchone()
        assert "COMPRESSION" not in sql.upper()
        assert "ZSTD" not in set().union(*compression(conn, f"{st.SCHEMA}.{table}").values())
    conn.close()


def test_an_older_storage_version_gets_no_zstd_and_runs(tmp_path) -> None:
    """A database file written for DuckDB < 1.2 refuses ZSTD: its tables, pending ones
    included, are created with the default compression, and a killed run still folds."""
    conn = file_of_storage_version(tmp_path / "v1.duckdb", "v1.0.0")
    assert Warehouse(conn).string_compression() == ""
    create_warehouse(conn)
    sync, dest = killed_mirror_run(conn)
    pending = conn.execute(
        "select count(*) from information_schema.tables where table_name like 'pending_%'"
    ).fetchone()[0]
    assert pending == 2
    dest.fault = None
    assert engine.run(sync, conn, dest).status == "success" and len(dest.members) == 20
    assert engine.plan(sync, conn, sample_size=0).work == 0
    (sql,) = conn.execute(
        "select sql from duckdb_tables() where table_name = 'sync_state'"
    ).fetchone()
    assert "COMPRESSION" not in sql.upper()
    conn.close()


@pytest.mark.parametrize(
    ("version", "zstd"), [("v1.1.0", False), ("v1.2.0", True), ("v1.4.0", True)]
)
def test_zstd_is_offered_from_the_storage_version_that_writes_it(tmp_path, version, zstd) -> None:
    conn = file_of_storage_version(tmp_path / "f.duckdb", version)
    clause = Warehouse(conn).string_compression()
    assert bool(clause) is zstd
    # What the warehouse offers, the file accepts.
    conn.execute(f"create table t (a varchar{clause})")
    conn.close()
