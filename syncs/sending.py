"""Send a materialized plan: stream it in chunks, batch it by the destination's limits,
keep up to `max_concurrency` requests in flight within its request budget, and have
the runner settle every batch in order.

Why settle in order: each batch's commit is its own transaction; settling strictly
in submission order keeps the write-ahead's guarantee simple (everything before the
oldest unsettled batch is committed) whatever the concurrency.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa

from connectors.base import (
    DEFERRED,
    AuthError,
    BatchAccepted,
    Destination,
    DestinationError,
    Outcome,
    Record,
    RecordResult,
    RetryableError,
    expand_results,
)
from syncs import lease
from syncs.batching import batches
from syncs.plan_sql import field_alias
from syncs.plan_table import PlanTable
from syncs.records import (
    PAYLOAD_JSON,
    ArrowBatch,
    Item,
    arrow_batches,
    payload_json_sql,
    plan_records,
)
from syncs.runner import COMMIT_ROWS, Runner
from syncs.throttle import share_quota
from syncs.warehouse import Warehouse
from syncs.write_ahead_windows import WriteAheadWindows

Progress = Callable[[int, int], None]


def apply_plan(
    runner: Runner, table: PlanTable, progress: Progress | None, stream_rows: int
) -> None:
    """Send the rows of the materialized plan `table` (see syncs.plan_table)."""
    runner.table, runner.seq, runner.unsettled = table.name, table.seq, table.rows
    with runner.wh.sending_settings():  # DuckDB: one thread per query while sending
        _send_all(runner, table.rows, progress, stream_rows)


# What a batch needs from the plan table in Python: the Record's fields (the rest stays in SQL).
_STREAM_COLUMNS = (
    "__key",
    "__op",
    "__attempts",
    "__ids",
    "__dest_id",
    "__idem",
    "__state_hash",
    "__in_status",
    "__state_ids",
)


def _send_all(runner: Runner, rows: int, progress: Progress | None, stream_rows: int) -> None:
    sync, wh, destination, table = runner.sync, runner.wh, runner.destination, runner.table
    caps = destination.capabilities
    total, done = rows, 0
    send = sync.mode == "send"
    stream_columns = _STREAM_COLUMNS + (("__variant",) if send else ())
    seq = runner.seq
    first = 0 if seq == "rowid" else 1
    columns = ", ".join(
        (f"{seq} as __seq", *stream_columns, *(field_alias(f) for f in sync.payload_columns()))
    )
    # Destinations that take JSON payloads get batches as columns (no Record per row).
    columnar = not send and callable(getattr(destination, "write_json", None))
    if columnar and wh.dialect == "duckdb":
        # DuckDB writes each row's payload JSON as it reads the chunk (records.payload_json_sql).
        types = {
            name: kind for name, kind, *_ in wh.fetchall(f"describe select {columns} from {table}")
        }
        payload_sql = payload_json_sql(sync, types)
        if payload_sql is not None:
            columns += f", {payload_sql} as {PAYLOAD_JSON}"
    sizes = caps.max_batch_bytes is not None
    chunk_rows = stream_rows
    if columnar:
        # Whole batches per chunk (a chunk's last batch is not cut short), at least
        # READ_BATCHES of them: each read has a fixed cost (bind, plan, Arrow conversion)
        # that one batch of 10,000 records per read made a fifth of the read's CPU.
        per = max(1, caps.max_batch_records)
        chunk_rows = -(-max(stream_rows, READ_BATCHES * per) // per) * per

    def build(chunk: pa.Table) -> list[Item] | list[ArrowBatch]:
        if columnar:
            return arrow_batches(sync, chunk, caps, runner.erase_as)
        return [
            item
            for arrow_batch in chunk.to_batches()
            for item in plan_records(sync, arrow_batch, sizes, runner.erase_as)
        ]

    # The main connection, one user at a time: staged commits are written on the committer
    # thread while this one keeps requests in flight. On DuckDB, chunks are read on cursors
    # of their own (the plan table is in PLAN_DB, which every cursor sees), so a read never
    # waits for a commit; elsewhere the read takes its turn on the connection.
    db = threading.Lock()
    # No ORDER BY: a range of a few row groups comes back in order as a rule, which
    # `_in_order` checks (sorting only a chunk that is not); the warehouse's sort cost a
    # fifth of the read.
    select = f"select {columns} from {table} where {seq} >= ? and {seq} < ?"
    readers = _ChunkReaders(wh, db)
    workers = max(1, caps.max_concurrency)

    def read_and_build(span: tuple[int, int]) -> list[Item] | list[ArrowBatch]:
        start, end = span
        return build(_in_order(readers.fetch(select, (first + start, first + end))))

    # Chunks read and built ahead of the requests: a full window of requests and two more
    # chunks (at most 16), on up to two threads (DuckDB and Arrow release the GIL). One
    # request per send carries one record, whatever the destination's batch limit (SendGrid's
    # 30,000 contacts built 14 chunks of messages ahead of 4 sends).
    per_request = 1 if send and caps.request_per_send else max(1, caps.max_batch_records)
    ahead_chunks = min(16, 2 + -(-workers * per_request // chunk_rows))
    build_threads = 2 if workers > 1 and wh.dialect == "duckdb" else 1

    # Chunks read and built on helper threads, `ahead_chunks` ahead: that work overlaps the
    # write-ahead (DuckDB), the commits and the destination's requests. Memory: ahead_chunks
    # + 1 chunks.
    # The first chunk is one batch (columnar path), so the first request does not wait for
    # a whole chunk of READ_BATCHES.
    head = min(chunk_rows, max(1, caps.max_batch_records)) if columnar else chunk_rows
    starts = itertools.chain(
        [(0, head)], ((s, s + chunk_rows) for s in range(head, rows, chunk_rows))
    )
    ahead: deque[Future] = deque()
    builder = ThreadPoolExecutor(
        max_workers=build_threads, thread_name_prefix=f"records-{sync.name}"
    )

    def read_ahead() -> None:
        for span in itertools.islice(starts, ahead_chunks - len(ahead)):
            ahead.append(builder.submit(read_and_build, span))

    def built() -> Iterator[Any]:
        while ahead:
            chunk_items = ahead.popleft().result()
            read_ahead()
            yield from chunk_items

    def stop_builder() -> None:
        """Before the caller uses the connection again: nothing left reading."""
        for fut in ahead:
            fut.cancel()
        builder.shutdown(wait=True, cancel_futures=True)
        readers.close()

    # Outside send mode, staged commits are written by a committer thread, one flush at a
    # time, while requests keep going out (a flush on this thread left every worker idle
    # for its duration). Send mode commits each send at once, on this thread.
    committer = (
        None
        if send
        else ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commit-{sync.name}")
    )
    committing: list[Future] = []  # the flush in progress, if any

    def locked_commit(staged: list[Any]) -> None:
        with db:
            runner.commit(staged)

    def commit_staged(final: bool = False) -> None:
        """Hand the staged commits to the committer once the last flush is done (its error,
        e.g. LeaseLost, raised here); `final`: wait for everything to be committed.

        Requests stop for a flush in progress only once two flushes' worth of rows wait
        (`Runner.backlogged`): at 150 ms a request, waiting at 2 x 16 batches drained
        every request in flight for as long as a flush took on a busy machine."""
        if committing and (final or committing[0].done() or runner.backlogged()):
            committing.pop().result()
        if committer is None or final:
            with db:
                runner.flush()
        elif not committing:
            committing.append(committer.submit(locked_commit, runner.take_staged()))

    pool = (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sync-{sync.name}")
        if workers > 1
        else None
    )
    in_flight: deque[tuple[list[Item] | ArrowBatch, Future, dict[str, str] | None]] = deque()
    stop: BaseException | None = None

    def call(batch: list[Item] | ArrowBatch) -> list[RecordResult] | BatchAccepted:
        try:
            if isinstance(batch, ArrowBatch):
                return destination.write_json(batch.json)  # type: ignore[attr-defined]
            return destination.write([r for r, *_ in batch])
        except DestinationError:
            raise
        except Exception as exc:  # noqa: BLE001 - a payload fault: see connectors.base.DestinationError
            if isinstance(batch, ArrowBatch):
                batch = batch.items(sync, runner.erase_as)
            return _isolate_fault(destination, [r for r, *_ in batch], exc, send)

    def settle_next() -> None:
        nonlocal done, stop
        batch, fut, occ = in_flight.popleft()
        try:
            outcome: list[RecordResult] | BatchAccepted | BaseException = fut.result()
        except BaseException as exc:  # noqa: BLE001 - classified in settle()
            outcome = exc
        if send:
            with db:  # a send's answer commits at once
                runner.settle(batch, outcome, occ)
        else:
            runner.settle(batch, outcome, occ)  # staged: no warehouse work here
        # Once every batch has left, the committer takes whatever is staged whenever it is
        # free: the last flush, which the run waits for, then holds only the last answers.
        if runner.commit_due() or (
            draining
            and committer is not None
            and runner.staged_batches()
            and (not committing or committing[0].done())
        ):
            commit_staged()
        if isinstance(outcome, (AuthError, RetryableError)) and stop is None:
            stop = outcome
        elif isinstance(outcome, lease.LeaseLost):
            raise outcome
        elif stop is None and (failure := _all_failed(outcome)) is not None:
            # Per-record answers can hide a destination that is down (every send in doubt
            # after a 5xx): after FAILING_BATCHES such batches in a row, stop like a
            # RetryableError instead of spending the rest of the plan on it.
            failing[0] += 1
            if failing[0] >= FAILING_BATCHES:
                stop = RetryableError(f"{failing[0]} requests in a row failed ({failure})")
        else:
            failing[0] = 0
        done += len(batch)
        if progress:
            progress(done, total)

    draining = False  # every batch has left: only answers are awaited
    failing = [0]  # batches in a row in which nothing was accepted for a transient reason
    # One request per send: each send's intent is committed just before its own request.
    batch_caps = replace(caps, max_batch_records=1) if send and caps.request_per_send else caps
    # The write-ahead, a window at a time (the first before the first request, the next
    # ones on a thread of their own meanwhile; on DuckDB on a cursor of their own, so never
    # behind a commit): see syncs.write_ahead_windows.
    ahead_writes = None
    ahead_pool: ThreadPoolExecutor | None = None
    if sync.mode in ("upsert", "mirror", "insert"):
        ahead_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ahead-{sync.name}")
        ahead_cursor = readers.cursor()  # DuckDB: a connection of its own; else None

        def submit_write(lo: int, end: int) -> Future:
            def write() -> None:
                if ahead_cursor is not None:  # never waits for a commit on the main connection
                    runner.write_ahead(lo, end, on=ahead_cursor)
                    return
                with db:
                    runner.write_ahead(lo, end)

            assert ahead_pool is not None
            return ahead_pool.submit(write)

        ahead_writes = WriteAheadWindows(
            runner.write_ahead,
            submit_write,
            first,
            rows,
            head=workers * max(1, caps.max_batch_records),
            cap=COMMIT_ROWS,  # one DuckDB row group, as the commits
        )
    # The destination's request budget, shared with every other sync to it in this process.
    pace = share_quota(runner.destination, runner.dkey, caps.max_requests_per_second, workers)
    source = built()
    stream: Generator[Any, None, None] = (
        source
        if columnar
        else batches(source, batch_caps, unique_keys=not send, size_of=_item_size)
    )
    try:
        # On DuckDB the first chunks are read (on their own cursors) while the write-ahead
        # commits on the main connection; elsewhere the reads wait for it.
        if wh.dialect == "duckdb":
            read_ahead()
        if ahead_writes is not None:
            with db:
                ahead_writes.start()
        read_ahead()
        if progress:
            progress(0, total)
        for batch in stream:
            if stop is not None:
                break
            occ = None
            if not send and runner.lease_may_be_lost():
                # Commits are staged (Runner.flush): fence each request once the lease's known
                # expiry approaches. DuckDB reads the lease on a connection of its own;
                # elsewhere it waits for a flush in progress.
                if wh.dialect == "duckdb":
                    runner.check_lease()
                else:
                    with db:
                        runner.check_lease()
            if ahead_writes is not None:
                ahead_writes.ensure(_last_row(batch))
            pace.acquire()
            if send:
                with db:
                    occ = runner.occurrences(batch)
                    batch = runner.write_intents(batch, occ)
            if pool is None:
                fut: Future = Future()
                try:
                    fut.set_result(call(batch))
                except BaseException as exc:  # noqa: BLE001
                    fut.set_exception(exc)
                in_flight.append((batch, fut, occ))
            else:
                in_flight.append((batch, pool.submit(call, batch), occ))
            while len(in_flight) >= workers:
                settle_next()
        draining = True
        while in_flight:
            settle_next()
        commit_staged(final=True)
    finally:
        stream.close()
        source.close()
        if ahead_pool is not None:
            ahead_pool.shutdown(wait=True, cancel_futures=True)
        stop_builder()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if committer is not None:
            # A flush in progress finishes (or fails) before the caller uses the connection.
            committer.shutdown(wait=True)
    # Reached only when every batch that left was settled and committed (an exception,
    # e.g. a kill, skips this and leaves the write-ahead for the next run to fold in).
    runner.release_write_ahead()
    if isinstance(stop, AuthError):
        raise stop
    if isinstance(stop, RetryableError):
        left = runner.result.pending + runner.result.in_doubt + (total - done)
        runner.stopped = (
            f"stopped: the destination kept failing ({stop}); {left} records left for the next run"
            + (f" ({total - done} of them not tried)" if total - done else "")
        )


FAILING_BATCHES = 5


def _last_row(batch: list[Item] | ArrowBatch) -> int:
    """The highest plan row number of a batch: rows up to it must be written ahead."""
    if isinstance(batch, ArrowBatch):
        return batch.hi
    return max(item[1] for item in batch)


# Batches of the destination's size read from the plan table at once (columnar path).
READ_BATCHES = 4


def _in_order(chunk: pa.Table) -> pa.Table:
    """The chunk sorted by __seq (a batch is a run of consecutive plan rows, in order)."""
    seqs = chunk.column("__seq").to_numpy()
    if len(seqs) > 1 and bool((np.diff(seqs) <= 0).any()):
        return chunk.sort_by("__seq")
    return chunk


class _ChunkReaders:
    """Reads of the plan table for the builder threads: on DuckDB each thread reads on a
    cursor of its own (a connection to the same database, so no lock is shared with the
    main connection's commits); elsewhere every read takes `db`, the main connection's lock."""

    def __init__(self, wh: Warehouse, db: threading.Lock) -> None:
        self.wh, self.db = wh, db
        self.local = threading.local()
        self.opened: list[Any] = []
        self.lock = threading.Lock()

    def fetch(self, sql: str, params: tuple[Any, ...]) -> pa.Table:
        if self.wh.dialect != "duckdb":
            with self.db:
                return self.wh.fetch_arrow(sql, params, local=True)
        reader = getattr(self.local, "wh", None)
        if reader is None:
            reader = self.local.wh = self.cursor()
        return reader.fetch_arrow(sql, params, local=True)

    def cursor(self) -> Warehouse | None:
        """DuckDB: a connection of its own to the same database (closed with the readers'),
        for work that must not queue behind the main connection's commits; else None."""
        if self.wh.dialect != "duckdb":
            return None
        cursor = self.wh.conn.cursor()
        with self.lock:
            self.opened.append(cursor)
        return Warehouse(cursor, "duckdb")

    def close(self) -> None:
        with self.lock:
            for cursor in self.opened:
                cursor.close()
            self.opened.clear()


def _all_failed(outcome: Any) -> str | None:
    """The first error when no record of the batch was accepted and every one failed for
    a transient reason (in doubt, or retryable but not a destination's own deferral)."""
    if not isinstance(outcome, list) or not outcome:
        return None
    for res in outcome:
        if res.outcome is Outcome.IN_DOUBT:
            continue
        if res.outcome is Outcome.RETRYABLE and not (res.error or "").startswith(DEFERRED):
            continue
        return None
    return outcome[0].error or outcome[0].outcome.value


def _isolate_fault(
    destination: Destination, records: list[Record], exc: Exception, send: bool
) -> list[RecordResult]:
    """A connector raised for some payload of the batch: find which, let the rest go on.

    By the contract (connectors.base.DestinationError) such an exception left before
    any request. One record: it is rejected with the exception's text. Idempotent
    operations: each record is retried alone. Sends of several records per request
    cannot be retried without risking a double send: they go to reconcile as in doubt.
    """
    reason = f"connector error: {type(exc).__name__}: {exc}"
    if len(records) == 1:
        return [RecordResult(records[0].key, Outcome.REJECTED, reason)]
    if send:
        return [RecordResult(r.key, Outcome.IN_DOUBT, reason) for r in records]
    out: list[RecordResult] = []
    for record in records:
        try:
            out.extend(expand_results([record], destination.write([record])))
        except DestinationError:
            raise
        except Exception as one:  # noqa: BLE001 - this record's payload is the fault
            out.append(
                RecordResult(
                    record.key, Outcome.REJECTED, f"connector error: {type(one).__name__}: {one}"
                )
            )
    return out


def _item_size(item: Item) -> int:
    return item[2]
