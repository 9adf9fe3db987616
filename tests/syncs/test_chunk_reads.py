"""How a run reads its plan: in chunks, on their own DuckDB cursors, ahead of the requests."""

from __future__ import annotations

import threading
from dataclasses import replace

import pyarrow as pa

from syncs import engine
from syncs.plan_table import PLAN_DB
from syncs.sending import _ChunkReaders, _in_order
from syncs.warehouse import Warehouse
from tests.syncs.conftest import make_sync, set_audience
from tests.syncs.test_columnar import JsonLoopback
from tests.syncs.test_concurrency import Counting, rows


def _plan_tables(conn) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "select table_name from information_schema.tables where table_catalog = ?", [PLAN_DB]
        ).fetchall()
    ]


def test_many_chunks_on_two_readers_send_every_record_once_in_order(conn) -> None:
    """Chunks of a few rows (stream_rows=1: four batches a chunk), read ahead on two
    threads, several requests in flight: every record once, batches in plan order."""
    set_audience(conn, rows(130))
    caps = replace(JsonLoopback().capabilities, max_batch_records=3, max_concurrency=4)
    dest = JsonLoopback(capabilities=caps)
    r = engine.run(make_sync("mirror"), conn, dest, stream_rows=1)
    assert r.status == "success" and r.sent == 130
    keys = [k for k, _, _ in dest.texts]
    assert sorted(keys) == [f"p{i:03d}" for i in range(130)]  # each once
    assert len(dest.calls) == 44 and all(len(c) <= 3 for c in dest.calls)
    assert engine.plan(make_sync("mirror"), conn).work == 0  # every batch committed once
    assert _plan_tables(conn) == []  # the plan table is dropped after the run


def test_record_by_record_path_reads_many_chunks_too(conn) -> None:
    set_audience(conn, rows(70))
    caps = replace(Counting(1).capabilities, max_batch_records=4, max_concurrency=3)
    dest = Counting(3, capabilities=caps)
    r = engine.run(make_sync("mirror"), conn, dest, stream_rows=5)
    assert r.status == "success" and r.sent == 70 and len(dest.members) == 70
    assert dest.most == 3


def test_a_chunk_is_read_while_the_main_connection_is_held(conn) -> None:
    """The builder's reads use cursors of their own: a commit holding the main
    connection's lock (syncs.sending: `db`) does not hold up the next chunk."""
    wh = Warehouse(conn)
    wh.execute(f"attach if not exists ':memory:' as {PLAN_DB}")
    wh.execute(f"create table {PLAN_DB}.main.p as select range as v from range(10)")
    db = threading.Lock()
    readers = _ChunkReaders(wh, db)
    got: list[pa.Table] = []
    with db:  # as the committer does while it writes a flush
        reader = threading.Thread(
            target=lambda: got.append(
                readers.fetch(
                    f"select v from {PLAN_DB}.main.p where rowid >= ? and rowid < ?", (2, 5)
                )
            )
        )
        reader.start()
        reader.join(timeout=30)
        assert got and got[0].column("v").to_pylist() == [2, 3, 4]
    readers.close()


def test_a_stale_plan_table_of_a_killed_run_in_this_process_is_dropped(conn) -> None:
    set_audience(conn, rows(5))
    sync = make_sync("mirror")
    from syncs.plan_table import plan_table_prefix

    conn.execute(f"attach if not exists ':memory:' as {PLAN_DB}")
    conn.execute(f"create table {PLAN_DB}.main.{plan_table_prefix(sync)}deadbeef as select 1 as x")
    assert engine.run(sync, conn, JsonLoopback()).status == "success"
    assert _plan_tables(conn) == []


def test_a_chunk_out_of_order_is_sorted() -> None:
    chunk = pa.table({"__seq": [3, 1, 2], "v": ["c", "a", "b"]})
    assert _in_order(chunk).column("v").to_pylist() == ["a", "b", "c"]
    ordered = pa.table({"__seq": [1, 2, 3], "v": ["a", "b", "c"]})
    assert _in_order(ordered) is ordered
