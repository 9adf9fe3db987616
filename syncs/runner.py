"""One run's working set: the write-ahead before records leave, and the commit of each
batch's answer (state, failing records, per-record results, the send ledger).

Why commits look like this: state is committed only after the destination answered,
in one transaction with those records' results; outside send mode the commits of
several batches are staged and flushed together (see `Runner.flush` for why a kill
loses nothing). Every transaction that lets records leave renews the sync's lease
first (`fence`), and each request whose commit is staged checks it (`check_lease`),
so a run that lost it stops before sending more.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pyarrow as pa

from connectors.base import (
    BatchAccepted,
    Destination,
    DestinationError,
    Outcome,
    Record,
    RecordResult,
    RejectedError,
    expand_results,
)
from syncs import lease
from syncs import state as st
from syncs.config import SyncConfig
from syncs.plan_sql import LEAVING_OPS, PENDING_ADD, PENDING_REMOVE
from syncs.records import FAILING, HELD, OPERATION_SQL, ArrowBatch, Item, erase_operation
from syncs.run_result import RunResult
from syncs.warehouse import Warehouse
from syncs.write_ahead import pending_prefix

# A run's own writes: legacy rows were adopted when it started (state.adopt_legacy_rows).
OURS = "sync_name = ? and destination_key = ?"
_LEAVING_SQL = "(" + ", ".join(f"'{op}'" for op in LEAVING_OPS) + ")"


def _with_keys(wh: Warehouse, sql: str, params: list[Any], keys: list[str]) -> None:
    """Run `sql` whose `{keys}` placeholder becomes a subquery over `keys`."""
    if not keys:
        return
    subquery, extra = wh.key_filter_table(keys)
    try:
        wh.execute(sql.format(keys=subquery), params + extra)
    finally:
        wh.release_key_filter()


def _results_table(
    run_id: str,
    sync: SyncConfig,
    rows: list[tuple[Record, str, str | None, str | None]],
    now: datetime,
) -> pa.Table:
    return pa.table(
        {
            "run_id": pa.array([run_id] * len(rows), pa.string()),
            "sync_name": pa.array([sync.name] * len(rows), pa.string()),
            "record_key": pa.array([r.key for r, *_ in rows], pa.string()),
            "operation": pa.array([r.operation.value for r, *_ in rows], pa.string()),
            "status": pa.array([s for _, s, _, _ in rows], pa.string()),
            "error": pa.array([e for _, _, e, _ in rows], pa.string()),
            "attempt": pa.array([r.attempt for r, *_ in rows], pa.int32()),
            "destination_id": pa.array([d for *_, d in rows], pa.string()),
            "recorded_at": pa.array([now] * len(rows), pa.timestamp("us")),
        }
    )


# Staged commits are flushed in whole DuckDB row groups (122,880 rows), or after
# COMMIT_SECONDS whatever is staged (see Runner.flush for why, and why waiting is safe);
# the plan's last rows, too few for a row group, every TAIL_BATCHES batches.
COMMIT_ROWS = 122_880
COMMIT_SECONDS = 5.0
TAIL_BATCHES = 16


@dataclass
class _Accepted:
    """Consecutive plan rows [lo, hi] the destination accepted whole, waiting for flush()."""

    lo: int
    hi: int
    ids: dict[str, str]  # record key -> destination id, where the destination gave one
    held: bool  # some row has a sync_state row to replace
    failing: bool  # some row has a record_status row to clear
    # (lo, hi, id): one destination id for every row of a sub-range (a webhook's batch id)
    shared: list[tuple[int, int, str]] = field(default_factory=list)

    def split(self, cut: int) -> _Accepted:
        """Keep rows [lo, cut - 1] here; return rows [cut, hi] as a range of their own."""
        rest = _Accepted(
            cut,
            self.hi,
            self.ids,  # keyed by record key: each range's commit joins only its own rows
            self.held,
            self.failing,
            [(max(lo, cut), hi, d) for lo, hi, d in self.shared if hi >= cut],
        )
        self.hi = cut - 1
        self.shared = [(lo, min(hi, cut - 1), d) for lo, hi, d in self.shared if lo < cut]
        return rest


def batch_ids_sql(
    shared: list[tuple[int, int, str]], seq: str, dialect: str
) -> tuple[str, list[Any]]:
    """SQL (and its parameters) giving each plan row the id of the batch it went in.

    `shared`: (lo, hi, id) per batch, in order. Batches of one size one after another
    (the usual: every batch full but the last, and the first when a flush cut a batch)
    index a list of the ids by arithmetic on DuckDB; otherwise a CASE over the ranges.
    Why: a row-group commit spans ~120 batches of 1,000 and a CASE tests them one by
    one: +0.38 s of CPU per 877k rows and table, the list +0.07 s (a range join cost
    more than the CASE).
    """
    size = shared[1][1] - shared[1][0] + 1 if len(shared) > 1 else shared[0][1] - shared[0][0] + 1
    origin = shared[-1][0] - (len(shared) - 1) * size  # where a full first batch would start
    uniform = shared[0][0] >= origin and all(
        lo == origin + i * size if i else hi == origin + size - 1
        for i, (lo, hi, _) in enumerate(shared)
    )
    uniform = uniform and all(hi - lo + 1 == size for lo, hi, _ in shared[1:-1])
    uniform = uniform and shared[-1][1] - shared[-1][0] < size
    if uniform and dialect == "duckdb":
        return (
            f"case when {seq} between ? and ? then "
            f"list_extract(?, cast(({seq} - ?) // ? as bigint) + 1) end",
            [shared[0][0], shared[-1][1], [d for *_, d in shared], origin, size],
        )
    sql = (
        "case "
        + " ".join(f"when {seq} between ? and ? then cast(? as varchar)" for _ in shared)
        + " end"
    )
    return sql, [v for lo, hi, d in shared for v in (lo, hi, d)]


def _rows(commit: _Accepted | pa.Table) -> int:
    return commit.hi - commit.lo + 1 if isinstance(commit, _Accepted) else commit.num_rows


class Runner:
    """One run's mutable working set (kept out of the public API)."""

    def __init__(
        self,
        sync: SyncConfig,
        wh: Warehouse,
        destination: Destination,
        result: RunResult,
        dkey: str,
        held_lease: lease.Lease | None = None,
    ) -> None:
        self.sync = sync
        self.wh = wh
        self.destination = destination
        self.result = result
        self.dkey = dkey  # the destination identity every state row of this run belongs to
        self.lease = held_lease
        self.erase_as = erase_operation(destination.capabilities)
        self.first_error: dict[Outcome, str] = {}  # the first error per outcome, for the summary
        self.stopped: str | None = None  # why the run stopped before the end of its plan
        self.erasure_error: str | None = None  # the first erasure a destination refused or deferred
        # Send mode: record key -> profile id, kept on each ledger row so erasure finds a
        # person's sends whatever the sync's key (an e-mail, an order id).
        self.profiles: dict[str, str | None] = {}
        self.max_attempts = sync.policies.max_attempts
        self.table = ""  # the materialized plan of this run (see syncs.plan_table.Diff.changes)
        self.seq = "__seq"  # its row number column (DuckDB: the temporary table's rowid)
        self.pending: list[str] = []  # this run's write-ahead tables, a window each
        # Settled batches whose commit waits for the next flush(), in order.
        self._staged: list[_Accepted | pa.Table] = []
        self._staged_rows = 0
        self._staged_batches = 0
        self.unsettled = 0  # plan rows not settled yet (set when the plan is materialized)
        self._staged_since = 0.0
        self._lease_reader: lease.Lease | None = None  # check_lease's own connection (DuckDB)

    # ---- send ledger
    def occurrences(self, batch: list[Item]) -> dict[str, str]:
        """Send mode: record key -> trigger occurrence, for the ledger rows of one batch."""
        lo, hi = batch[0][1], batch[-1][1]
        rows = self.wh.fetch_arrow(
            f"select __key, __occ, __profile from {self.table} where {self.seq} between ? and ?",
            (lo, hi),
            local=True,
        )
        self.profiles.update(
            zip(rows.column("__key").to_pylist(), rows.column("__profile").to_pylist())
        )
        return dict(
            zip(
                rows.column("__key").to_pylist(),
                (o or "" for o in rows.column("__occ").to_pylist()),
            )
        )

    def write_intents(self, batch: list[Item], occ: dict[str, str]) -> list[Item]:
        """Committed before the request leaves: proof that a send may have happened.

        Returns the batch with each Record stamped with its intent time, which every
        later ledger row of that send keeps (see `ledger_row`)."""
        now = st.utc_now()
        batch = [(replace(r, intent_at=now), *rest) for r, *rest in batch]
        rows = [
            self.ledger_row(r, occ[r.key], st.INTENT, r.attempt - 1, None, None, now)
            for r, *_ in batch
        ]
        with self.wh.transaction():
            self.fence()
            self.replace_ledger(rows)
        return batch

    def check_lease(self) -> None:
        """Before a request whose commit is staged: still this run's lease? (LeaseLost if not)

        Read only once the lease's known expiry approaches (`lease.Lease.may_be_lost`):
        before that no other run can have taken it over, and each commit renews it.
        On DuckDB the read goes through a connection of its own (a cursor), so it is not
        held up by a flush that another thread is committing on the main connection
        (see syncs.sending); elsewhere the caller serialises it with the commits."""
        if not self.lease_may_be_lost():
            return
        assert self.lease is not None
        if self.wh.dialect == "duckdb":
            if self._lease_reader is None:
                self._lease_reader = replace(
                    self.lease, wh=Warehouse(self.wh.conn.cursor(), "duckdb")
                )
            self._lease_reader.check()
        else:
            self.lease.check()

    def lease_may_be_lost(self) -> bool:
        """Could another run hold this run's lease by now (`lease.Lease.may_be_lost`)?"""
        return self.lease is not None and self.lease.may_be_lost()

    def fence(self) -> None:
        """Inside a transaction that lets records leave: renew the lease or stop (LeaseLost)."""
        if self.lease is not None:
            self.lease.renew()

    def replace_ledger(self, rows: list[dict[str, Any]]) -> None:
        _with_keys(
            self.wh,
            f"delete from {st.LEDGER} where sync_name = ? and destination_key = ? "
            "and idempotency_key in {keys}",
            [self.sync.name, self.dkey],
            [row["idempotency_key"] for row in rows],
        )
        self.wh.insert_rows(
            st.LEDGER, st.LEDGER_COLUMNS, pa.Table.from_pylist(rows, schema=_LEDGER_SCHEMA)
        )

    def write_ahead(self, lo: int, end: int, on: Warehouse | None = None) -> None:
        """Before any add/removal of plan rows [lo, end) leaves: record them, in SQL, one commit.

        Why: a kill after the destination applied a batch but before its commit
        would otherwise leave an add the engine does not know about (never removed
        when the member leaves: an orphan) or a removal it does not know about
        (skipped as 'unchanged' if the member comes back: a lost record). Adds go to
        this run's own pending tables (one per window, dropped once every
        batch sent is committed, so the per-batch commits never have to rewrite markers
        in a large sync_state); a killed run's tables are folded into sync_state as
        PENDING_ADD markers by the next run (`fold_pending`) and counted by plans
        until then. Removals are marked PENDING_REMOVE in sync_state, all of them with
        the first window. Marked rows re-plan as add / remove, so the next run repeats
        them (idempotent). Taken from the materialized plan, so exactly what this run
        will send.

        Why windows (`syncs.write_ahead_windows`): the first requests leave once the
        first window is written, while later windows are written on another thread
        (`on`: DuckDB, a cursor of its own, so a window never waits for a commit of
        state and results; it reads the lease, where the first window and the commits
        renew it, which would conflict); a request leaves only after the window holding
        its rows committed, so a kill at any point leaves every add that may have
        reached the destination in a pending table (the rows of windows not written yet
        never left).
        """
        wh = on or self.wh
        first = not self.pending
        # A table per window: each is written whole by DuckDB at commit (a window of a
        # row group as one compressed row group), where appends to one table went to the WAL.
        # Created, then filled (not `create table as`): only a column list can say how a
        # column is compressed.
        table = (
            f"{st.SCHEMA}.{pending_prefix(self.sync, self.dkey)}{self.result.run_id[:12]}"
            f"_{len(self.pending):05d}"
        )
        with wh.transaction():
            if on is None:
                self.fence()
            elif self.lease is not None:
                replace(self.lease, wh=on).check()
            # ZSTD (DuckDB): the table lives only until the run ends, and DuckDB's default
            # string compression cost twice the CPU at commit (Warehouse.string_compression).
            zstd = wh.string_compression()
            wh.execute(
                f"create table {table} (record_key varchar{zstd}, identifiers_json varchar{zstd})"
            )
            wh.execute(
                f"insert into {table} select __key, __ids from {self.table} "
                f"where {self.seq} >= ? and {self.seq} < ? and __op = 'add' and __state_hash is null",
                [lo, end],
            )
            if first:
                wh.execute(
                    f"update {st.STATE} set payload_hash = ? where sync_name = ? and destination_key = ? "
                    f"and payload_hash <> ? and record_key in (select __key from {self.table} where __op = 'remove')",
                    [PENDING_REMOVE, self.sync.name, self.dkey, PENDING_REMOVE],
                )
        self.pending.append(table)

    def release_write_ahead(self) -> None:
        """Every batch that left has been committed (accepted, or marked in sync_state)."""
        while self.pending:
            self.wh.execute(f"drop table if exists {self.pending.pop()}")

    def ledger_row(
        self,
        r: Record,
        occurrence: str,
        status: str,
        attempts: int,
        dest_id: str | None,
        error: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """A send's ledger row. `created_at` stays the time its intent was committed
        (`Record.intent_at`): reconcile looks only at messages created after it."""
        ids = {k: r.payload.get(k) for k in self.sync.identifiers}
        return {
            "sync_name": self.sync.name,
            "idempotency_key": r.idempotency_key,
            "record_key": r.key,
            "occurrence": occurrence,
            "status": status,
            "attempts": attempts,
            "identifiers_json": json.dumps(ids, default=str, sort_keys=True),
            "payload_json": json.dumps(dict(r.payload), default=str, sort_keys=True),
            "destination_id": dest_id,
            "error": error,
            "created_at": r.intent_at or now,
            "updated_at": now,
            "destination_key": self.dkey,
            "profile_id": self.profiles.get(r.key),
        }

    # ---- settle one batch
    def settle(
        self,
        batch: list[Item],
        outcome: list[RecordResult] | BatchAccepted | BaseException,
        occ: dict[str, str] | None = None,
    ) -> None:
        """Take one batch's answer: counted now, its commit staged for the next `flush()`.

        Send mode commits at once (each send keeps its own intent and answer commits,
        see `write_intents`). Other modes stage the commit: see `flush` for why that
        is safe against a kill.
        """
        send = self.sync.mode == "send"
        self.unsettled -= len(batch)
        if isinstance(batch, ArrowBatch):
            if isinstance(outcome, BatchAccepted):
                self.result.sent += len(batch)
                self._stage_accepted(batch.lo, batch.hi, batch.held, batch.failing, outcome)
                return
            batch = batch.items(self.sync, self.erase_as)
        ids = None if send else self._all_accepted(batch, outcome)
        if ids is not None:
            self.result.sent += len(batch)
            lo, hi = batch[0][1], batch[-1][1]
            assert hi - lo + 1 == len(batch), "a batch is a run of consecutive plan rows"
            # Which deletes the commit needs, from the plan table (a few thousand rows): a
            # delete whose key list comes out empty still scans sync_state, which grows with
            # the audience.
            held = any(item[3] & HELD for item in batch)
            failing = any(item[3] & FAILING for item in batch)
            self._stage_accepted(lo, hi, held, failing, ids)
            return
        if isinstance(outcome, BaseException):
            exc = outcome
            if isinstance(exc, RejectedError):
                results = [
                    RecordResult(r.key, Outcome.REJECTED, f"request rejected: {exc}")
                    for r, *_ in batch
                ]
            elif isinstance(exc, DestinationError):
                # Retryable, auth or unknown: nothing proven. A send may still have left.
                kind = Outcome.IN_DOUBT if send else Outcome.RETRYABLE
                results = [
                    RecordResult(r.key, kind, f"{type(exc).__name__}: {exc}") for r, *_ in batch
                ]
            else:
                raise exc
        else:
            results = expand_results([r for r, *_ in batch], outcome)
        for res in results:
            if res.outcome is not Outcome.ACCEPTED and res.error:
                self.first_error.setdefault(res.outcome, res.error)
        by_key = {res.key: res for res in results}
        missing = Outcome.IN_DOUBT if send else Outcome.RETRYABLE
        resolved = [
            (
                item,
                by_key.get(item[0].key)
                or RecordResult(item[0].key, missing, "no result returned for this record"),
            )
            for item in batch
        ]
        if send:
            with self.wh.transaction():
                self.fence()
                self._commit_send(resolved, occ or {}, st.utc_now())
            return
        self._stage(self._outcomes(resolved))

    def _stage(self, commit: _Accepted | pa.Table) -> None:
        if not self._staged:
            self._staged_since = time.monotonic()
        self._staged.append(commit)
        self._staged_rows += _rows(commit)
        self._staged_batches += 1

    def _stage_accepted(
        self, lo: int, hi: int, held: bool, failing: bool, ids: Mapping[str, str] | BatchAccepted
    ) -> None:
        """Plan rows [lo, hi] accepted whole; `ids` their destination ids (key -> id, or a
        BatchAccepted whose one id, if any, holds for every row it does not name)."""
        shared = None
        if isinstance(ids, BatchAccepted):
            shared, ids = ids.destination_id, ids.destination_ids
        last = self._staged[-1] if self._staged else None
        if isinstance(last, _Accepted) and last.hi + 1 == lo:
            # Consecutive accepted batches: one range, one set of statements at flush.
            last.hi = hi
            last.held |= held
            last.failing |= failing
            last.ids.update(ids)
            self._staged_rows += hi - lo + 1
            self._staged_batches += 1
        else:
            last = _Accepted(lo, hi, dict(ids), held, failing)
            self._stage(last)
        if shared is not None:
            last.shared.append((lo, hi, shared))

    def commit_due(self) -> bool:
        """A whole row group is staged, or the oldest staged batch waited COMMIT_SECONDS,
        or TAIL_BATCHES batches of a tail too short for another row group: committed as
        they come, overlapping the last requests (a run of 88k records otherwise wrote
        them all after its last answer), and after every whole row group, where a small
        commit costs no rewrite (measured: checkpoint 0.03 s)."""
        if not self._staged:
            return False
        if self._staged_rows >= COMMIT_ROWS or self._waited():
            return True
        tail = self._staged_rows + max(0, self.unsettled) < COMMIT_ROWS
        return tail and self._staged_batches >= TAIL_BATCHES

    def staged_batches(self) -> int:
        """Batches whose commit is staged (ranges of consecutive ones may be merged)."""
        return self._staged_batches

    def backlogged(self) -> bool:
        """Staged commits pile up faster than they are written (two flushes' worth)."""
        return self._staged_rows >= 2 * COMMIT_ROWS

    def _waited(self) -> bool:
        return time.monotonic() - self._staged_since >= COMMIT_SECONDS

    def flush(self) -> None:
        """Commit every staged batch, in order, in one transaction fenced by the lease.

        Why a commit may wait (up to COMMIT_ROWS records or COMMIT_SECONDS): one
        transaction per batch was most of the engine's time per record, and the one
        thread that commits capped how many requests could be in flight. Waiting is
        safe against a kill because nothing of this run relies on a batch's commit
        until the run ends: every add it sends is in its write-ahead table, every
        removal is marked PENDING_REMOVE, and an update's state keeps the old hash.
        A batch the destination accepted but whose commit a kill lost is planned
        again by the next run (add, remove or update again: idempotent upserts and
        removals). The write-ahead is released only after the last flush. Send mode
        never stages (a send is not idempotent: its intent and answer commit at once).
        """
        self.commit(self.take_staged(everything=True))

    def take_staged(self, everything: bool = False) -> list[_Accepted | pa.Table]:
        """The staged commits to write now, handed over (to `commit`, on this thread or a
        committer's), in order.

        Whole DuckDB row groups (COMMIT_ROWS plan rows, a range cut where it crosses the
        boundary) while the oldest staged batch is younger than COMMIT_SECONDS; all of it
        otherwise, or when `everything` (the last flush). Why whole row groups: a
        transaction that appends exactly whole row groups has DuckDB write them to the
        database file compressed at commit (its optimistic writes); any other size goes
        to the WAL and is compressed again by a checkpoint, which also rewrites the row
        groups written around it: measured on 877k state and results rows, commits of
        16,000 rows cost 1.56 s of CPU plus 1.28 s at the checkpoint, commits of 122,880
        rows 1.58 s plus 0.02 s. (A run with failing records or removals appends other
        counts: correct, just not aligned.)
        """
        if everything or self._waited() or self._staged_rows < COMMIT_ROWS:
            staged, self._staged, self._staged_rows, self._staged_batches = self._staged, [], 0, 0
            return staged
        want = self._staged_rows // COMMIT_ROWS * COMMIT_ROWS
        taken: list[_Accepted | pa.Table] = []
        rows = 0
        while self._staged and rows < want:
            head = self._staged[0]
            n = _rows(head)
            if rows + n > want and isinstance(head, _Accepted):
                self._staged[0] = head.split(head.lo + want - rows)
                n = want - rows
            else:
                self._staged.pop(0)
            taken.append(head)
            rows += n
        self._staged_rows -= rows
        self._staged_batches = len(self._staged)
        # The rest was settled within the last COMMIT_SECONDS; counted from now (about).
        self._staged_since = time.monotonic()
        return taken

    def commit(self, staged: list[_Accepted | pa.Table]) -> None:
        """Commit `staged` (from `take_staged`), in order, in one transaction fenced by the
        lease. Touches only the warehouse: safe on another thread while this one sends,
        as long as nothing else uses the connection meanwhile (syncs.sending's lock)."""
        if not staged:
            return
        now = st.utc_now()
        with self.wh.transaction():
            self.fence()
            for commit in staged:
                if isinstance(commit, _Accepted):
                    self._commit_accepted(commit, now)
                else:
                    self._commit_records(commit, now)

    @staticmethod
    def _all_accepted(batch: list[Item], outcome: Any) -> Mapping[str, str] | None:
        """The destination ids (key -> id) when every record of the batch was accepted, so
        the batch can take the column-wise commit; None otherwise."""
        if isinstance(outcome, BatchAccepted):
            return outcome.destination_ids
        if isinstance(outcome, BaseException) or len(outcome) != len(batch):
            return None
        accepted = Outcome.ACCEPTED
        if not all(res.outcome is accepted for res in outcome):
            return None
        if {res.key for res in outcome} != {r.key for r, *_ in batch}:
            return None
        return {res.key: res.destination_id for res in outcome if res.destination_id}

    def _status_of(self, outcome: Outcome, attempts: int) -> str:
        if outcome == Outcome.ACCEPTED:
            return "accepted"
        if outcome == Outcome.SUPPRESSED:
            return "parked"
        if outcome == Outcome.REJECTED:
            return "parked" if attempts >= self.max_attempts else "rejected"
        if outcome == Outcome.IN_DOUBT:
            return "in_doubt"
        return "pending"

    def _count(self, status: str) -> None:
        r = self.result
        if status == "accepted":
            r.sent += 1
        elif status == "rejected":
            r.failed += 1
        elif status == "parked":
            r.parked += 1
        elif status == "in_doubt":
            r.in_doubt += 1
        else:
            r.pending += 1

    def _commit_accepted(self, commit: _Accepted, now: datetime) -> None:
        """The common case: every record of a run of batches accepted. Written from the plan
        table in SQL, so nothing per record is built in Python (destination ids, if any, are
        staged)."""
        sync, wh, p, seq = self.sync, self.wh, self.table, self.seq
        rng = [commit.lo, commit.hi]
        held, failing = commit.held, commit.failing
        with contextlib.ExitStack() as stack:
            joins, dests = [], []
            if commit.ids:
                ids = pa.table(
                    {
                        "k": pa.array(list(commit.ids), pa.string()),
                        "d": pa.array(list(commit.ids.values()), pa.string()),
                    }
                )
                name = stack.enter_context(wh.stage("__ferry_ids", ids))
                joins.append(f"left join {name} i on i.k = p.__key")
                dests.append("i.d")
            dest_params: list[Any] = []
            if commit.shared:
                sql, params = batch_ids_sql(commit.shared, f"p.{seq}", wh.dialect)
                dests.append(sql)
                dest_params += params
            join = " ".join(joins)
            dest = (
                dests[0]
                if len(dests) == 1
                else f"coalesce({', '.join(dests)})"
                if dests
                else "cast(null as varchar)"
            )
            if held:
                wh.execute(
                    f"delete from {st.STATE} where {OURS} and record_key in "
                    f"(select __key from {p} where {seq} between ? and ? and __state_hash is not null)",
                    [sync.name, self.dkey, *rng],
                )
            wh.execute(
                f"insert into {st.STATE} ({', '.join(st.STATE_COLUMNS)}) select ?, p.__key, p.__hash, p.__ids, "
                f"coalesce({dest}, p.__dest_id), ?, ?, ?, p.__profile, p.__pfp from {p} p {join} "
                f"where p.{seq} between ? and ? and p.__op not in {_LEAVING_SQL}",
                [sync.name, *dest_params, now, self.result.run_id, self.dkey, *rng],
            )
            if failing:
                wh.execute(
                    f"delete from {st.STATUS} where {OURS} and record_key in "
                    f"(select __key from {p} where {seq} between ? and ? and __in_status)",
                    [sync.name, self.dkey, *rng],
                )
            wh.execute(
                f"insert into {st.RESULTS} ({', '.join(st.RESULT_COLUMNS)}, plan_operation) select ?, ?, p.__key, "
                f"{OPERATION_SQL}, 'accepted', cast(null as varchar), p.__attempts + 1, {dest}, ?, p.__op from {p} p {join} "
                f"where p.{seq} between ? and ?",
                [self.result.run_id, sync.name, *dest_params, now, *rng],
            )

    def _outcomes(self, resolved: list[tuple[Item, RecordResult]]) -> pa.Table:
        """One batch with some record not accepted: its outcomes (counted now) as Arrow, for
        `_commit_records` to join to the plan table."""
        seqs, statuses, errors, result_dest, attempts_after = [], [], [], [], []
        for (r, seq, *_), res in resolved:
            after = (
                r.attempt - 1 + (1 if res.outcome in (Outcome.REJECTED, Outcome.SUPPRESSED) else 0)
            )
            status = self._status_of(res.outcome, after)
            self._count(status)
            seqs.append(seq)
            statuses.append(status)
            errors.append(res.error if status != "accepted" else None)
            result_dest.append(res.destination_id)
            attempts_after.append(after)
        return pa.table(
            {
                "seq": pa.array(seqs, pa.int64()),
                "status": pa.array(statuses, pa.string()),
                "error": pa.array(errors, pa.string()),
                "rdest": pa.array(result_dest, pa.string()),
                "after": pa.array(attempts_after, pa.int32()),
            }
        )

    def _commit_records(self, outcomes: pa.Table, now: datetime) -> None:
        """A batch's outcomes, joined to the plan table: state, failing records, results."""
        if not outcomes.num_rows:
            return
        sync, wh, p = self.sync, self.wh, self.table
        with wh.stage("__ferry_batch", outcomes) as b:
            rows = f"from {p} p join {b} b on b.seq = p.{self.seq}"
            wh.execute(
                f"delete from {st.STATE} where {OURS} and record_key in "
                f"(select p.__key {rows} where b.status = 'accepted' and p.__state_hash is not null)",
                [sync.name, self.dkey],
            )
            wh.execute(
                f"insert into {st.STATE} ({', '.join(st.STATE_COLUMNS)}) select ?, p.__key, p.__hash, p.__ids, "
                f"coalesce(b.rdest, p.__dest_id), ?, ?, ?, p.__profile, p.__pfp {rows} "
                f"where b.status = 'accepted' and p.__op not in {_LEAVING_SQL}",
                [sync.name, now, self.result.run_id, self.dkey],
            )
            # An add that left but was not accepted may still be at the destination: keep it
            # known (it re-plans as add, or as remove if the member leaves). See write_ahead.
            wh.execute(
                f"insert into {st.STATE} ({', '.join(st.STATE_COLUMNS)}) select ?, p.__key, ?, p.__ids, "
                f"cast(null as varchar), ?, ?, ?, p.__profile, cast(null as bigint) {rows} where b.status <> 'accepted' "
                "and p.__op = 'add' and p.__state_hash is null",
                [sync.name, PENDING_ADD, now, self.result.run_id, self.dkey],
            )
            wh.execute(
                f"delete from {st.STATUS} where {OURS} and record_key in "
                f"(select p.__key {rows} where b.status in ('accepted', 'rejected', 'parked') and p.__in_status)",
                [sync.name, self.dkey],
            )
            wh.execute(
                f"insert into {st.STATUS} ({', '.join(st.STATUS_COLUMNS)}) select ?, p.__key, p.__op, p.__hash, "
                f"b.after, coalesce(b.error, b.status), b.status = 'parked', ?, ? {rows} "
                "where b.status in ('rejected', 'parked')",
                [sync.name, now, self.dkey],
            )
            wh.execute(
                f"insert into {st.RESULTS} ({', '.join(st.RESULT_COLUMNS)}, plan_operation) select ?, ?, p.__key, "
                f"{OPERATION_SQL}, b.status, b.error, p.__attempts + 1, b.rdest, ?, p.__op {rows}",
                [self.result.run_id, sync.name, now],
            )

    def _commit_send(
        self, resolved: list[tuple[Item, RecordResult]], occ: dict[str, str], now: datetime
    ) -> None:
        ledger_rows = []
        result_rows = []
        for (r, *_), res in resolved:
            attempts = r.attempt - 1 + (1 if res.outcome == Outcome.REJECTED else 0)
            status = self._status_of(res.outcome, attempts)
            self._count(status)
            ledger_status = {
                "accepted": st.SENT,
                "rejected": st.REJECTED,
                "in_doubt": st.IN_DOUBT,
                "pending": st.RETRY,
                "parked": "suppressed" if res.outcome == Outcome.SUPPRESSED else st.PARKED,
            }[status]
            ledger_rows.append(
                self.ledger_row(
                    r,
                    occ.get(r.key, ""),
                    ledger_status,
                    attempts,
                    res.destination_id,
                    res.error,
                    now,
                )
            )
            result_rows.append((r, status, res.error, res.destination_id))
        self.replace_ledger(ledger_rows)
        self.wh.insert_rows(
            st.RESULTS,
            st.RESULT_COLUMNS,
            _results_table(self.result.run_id, self.sync, result_rows, now),
        )

    def verdict(self) -> tuple[str, str | None]:
        """(status, one-line reason) from what the run did; see RunResult."""
        r, first = self.result, self.first_error
        parts: list[str] = []
        if self.stopped:
            parts.append(self.stopped)
        if r.in_doubt:
            parts.append(
                f"{r.in_doubt} sends in doubt ({first.get(Outcome.IN_DOUBT) or 'unsettled'}): "
                "not sent again until the destination settles them"
            )
        if r.parked:
            parts.append(
                f"{r.parked} records parked ({first.get(Outcome.REJECTED) or first.get(Outcome.SUPPRESSED) or 'see ferry sync parked'})"
            )
        if r.failed:
            parts.append(
                f"{r.failed} records rejected ({first.get(Outcome.REJECTED) or 'rejected'}), retried next run"
            )
        if r.pending and not self.stopped:
            parts.append(
                f"{r.pending} records left pending ({first.get(Outcome.RETRYABLE) or 'retryable'}), retried next run"
            )
        if r.erasures_left:
            parts.append(
                f"{r.erasures_left} erasures left for the next run ({self.erasure_error or 'not confirmed'}); "
                "see ferry sync erasures"
            )
        reason = "; ".join(parts) or None
        if self.stopped:
            return "failed", reason
        if r.in_doubt or r.parked:
            return "needs_attention", reason
        if r.failed or r.pending or r.erasures_left:
            return "partial", reason
        return "success", None


_LEDGER_SCHEMA = pa.schema(
    [
        ("sync_name", pa.string()),
        ("idempotency_key", pa.string()),
        ("record_key", pa.string()),
        ("occurrence", pa.string()),
        ("status", pa.string()),
        ("attempts", pa.int32()),
        ("identifiers_json", pa.string()),
        ("payload_json", pa.string()),
        ("destination_id", pa.string()),
        ("error", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("updated_at", pa.timestamp("us")),
        ("destination_key", pa.string()),
        ("profile_id", pa.string()),
    ]
)
