"""The warehouse layer's DuckDB specifics the engine relies on."""

from __future__ import annotations

import duckdb

from syncs.warehouse import Warehouse


def threshold(conn: duckdb.DuckDBPyConnection) -> str:
    return conn.execute("select current_setting('checkpoint_threshold')").fetchall()[0][0]


def test_deferred_checkpoints_raise_the_threshold_for_the_run_and_restore_it(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    wh = Warehouse(conn)
    before = threshold(conn)
    with wh.deferred_checkpoints("1GB"):
        assert threshold(conn) != before and "MiB" in threshold(conn)
        assert float(threshold(conn).split()[0]) > 900
    assert threshold(conn) == before
    conn.execute("set checkpoint_threshold = '4GB'")  # the owner's larger setting is left alone
    with wh.deferred_checkpoints("1GB"):
        assert threshold(conn).endswith("GiB")
    assert threshold(conn).endswith("GiB")


def test_local_reads_see_temporary_tables_after_an_unread_result(tmp_path):
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    wh = Warehouse(conn)
    wh.execute("create temporary table t as select range as i from range(5)")
    wh.fetchone("select i from t order by i")  # one row read, the rest left unread
    assert wh.fetch_arrow(
        "select count(*) as n from t where i >= ?", (2,), local=True
    ).to_pylist() == [{"n": 3}]
