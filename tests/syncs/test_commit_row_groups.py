"""Staged commits land in whole DuckDB row groups: a large run's state and results are
written to the database file at commit (compressed once), not to the WAL for a
checkpoint to compress again when the connection closes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import pytest

from connectors.base import BatchAccepted, JsonBatch
from syncs import engine
from syncs import state as st
from syncs.runner import COMMIT_ROWS, batch_ids_sql
from tests.syncs.conftest import make_sync
from tests.syncs.loopback import LoopbackDestination


@dataclass
class BatchIds(LoopbackDestination):
    """Accepts every batch whole under an id of its own (as the webhook names its batches)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.batch_of: dict[str, str] = {}  # record key -> the id of the batch it went in

    def write_json(self, batch: JsonBatch) -> BatchAccepted:
        batch_id = f"batch-{len(self.calls)}"
        self.calls.append([])
        self.batch_of.update(dict.fromkeys(batch.keys.to_pylist(), batch_id))
        return BatchAccepted(destination_id=batch_id)


def test_a_large_run_commits_whole_row_groups_with_each_batch_id_kept(conn, tmp_path) -> None:
    members = COMMIT_ROWS + 1_500  # the row group ends inside a batch: its range is cut
    conn.execute(
        "insert into audiences.aud_test select 'p' || lpad(cast(i as varchar), 7, '0'), "
        "'u' || i || '@x.com', 'N' || i, 'treatment', null from range(?) t(i)",
        [members],
    )
    conn.execute(
        "insert into marts.customer_consent select profile_id, 'email', true, 'test', null "
        "from audiences.aud_test"
    )
    caps = replace(
        LoopbackDestination().capabilities, max_batch_records=1_000, max_batch_bytes=None
    )
    dest = BatchIds(capabilities=caps)
    r = engine.run(make_sync("mirror"), conn, dest)
    assert r.status == "success" and r.sent == members == len(dest.batch_of)
    assert len(dest.calls) == -(-members // 1_000)

    # Before the connection closes: the WAL holds the last, partial row group, the run's
    # bookkeeping (0.5 MB) and the write-ahead windows of the first row group (small, so the
    # first requests leave early: ~40 bytes a row, 5 MB; dropped at the end, so nothing for a
    # checkpoint to compress); commits of 16 batches left ~50 MB here for the checkpoint.
    wal = tmp_path / "wh.duckdb.wal"
    assert not wal.exists() or wal.stat().st_size < 8_000_000, wal.stat().st_size

    # Every record holds the id of the batch it went in, across the cut row-group ranges.
    state = dict(conn.execute(f"select record_key, destination_id from {st.STATE}").fetchall())
    assert state == dest.batch_of
    results = dict(
        conn.execute(
            f"select record_key, destination_id from {st.RESULTS} where run_id = ? and status = 'accepted'",
            [r.run_id],
        ).fetchall()
    )
    assert results == dest.batch_of


@pytest.mark.parametrize(
    "sizes",
    [
        [1000] * 5,  # full batches
        [1000, 1000, 1000, 250],  # the last one short
        [120, 1000, 1000, 37],  # a flush that starts inside a cut batch
        [7],  # one short batch
        [500, 1000, 999, 1000],  # a batch cut short by its byte limit: the CASE
        [1000, 1000, 1001],  # a last batch longer than the others: the CASE
    ],
)
def test_each_row_gets_the_id_of_its_batch_whatever_the_batch_sizes(sizes: list[int]) -> None:
    conn = duckdb.connect()
    start = 40
    conn.execute(
        "create temporary table plan as select i from range(?) t(i)", [start + sum(sizes) + 5]
    )
    shared, lo = [], start
    for n, size in enumerate(sizes):
        shared.append((lo, lo + size - 1, f"b{n}"))
        lo += size
    sql, params = batch_ids_sql(shared, "p.rowid", "duckdb")
    got = conn.execute(f"select p.rowid, {sql} from plan p order by p.rowid", params).fetchall()
    want = {row: d for lo, hi, d in shared for row in range(lo, hi + 1)}
    assert dict(got) == {row: want.get(row) for row, _ in got}


def test_duckdb_runs_one_thread_per_query_while_sending_and_the_owners_setting_comes_back(
    conn,
) -> None:
    conn.execute("set threads = 3")
    seen: list[int] = []

    def during(_n: int, _records: list) -> None:
        seen.append(conn.cursor().execute("select current_setting('threads')").fetchone()[0])

    conn.execute(
        "insert into audiences.aud_test select 'p' || i, 'u' || i || '@x.com', 'N', 'treatment', null "
        "from range(120) t(i)"
    )
    conn.execute(
        "insert into marts.customer_consent select profile_id, 'email', true, 'test', null "
        "from audiences.aud_test"
    )
    r = engine.run(make_sync("mirror"), conn, LoopbackDestination(fault=during))
    assert r.status == "success" and r.sent == 120
    assert seen and set(seen) == {1}
    assert conn.execute("select current_setting('threads')").fetchone()[0] == 3
