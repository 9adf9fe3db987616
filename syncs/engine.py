"""The sync engine: plan -> policies -> batches -> destination -> per-record results -> state.

Why this order and these commits: scheduled runs have no one watching, so the
engine is built to be killed at any instant. State is committed per batch, in
one transaction with that batch's results, only after the destination answered;
a run killed before the commit simply re-plans those records next time (upserts
and removals are idempotent at the destination). Sends are not idempotent, so
send mode writes an intent to the ledger *before* the request and settles any
intent left behind by asking the destination (reconcile) before anything for
that key may go out again; what cannot be settled is parked, never resent.

Public entry points: :func:`plan` (dry run: sends and commits nothing) and
:func:`run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.base import (
    DEFERRED,
    REPLACED_IDENTIFIERS,
    AuthError,
    BatchAccepted,
    Capabilities,
    Destination,
    DestinationError,
    DestinationStopped,
    Operation,
    Outcome,
    Record,
    RecordResult,
    RejectedError,
    RetryableError,
    expand_results,
)
from syncs import lease
from syncs import state as st
from syncs.batching import batches, payload_sizes, record_bytes
from syncs.config import SyncConfig, SyncConfigError
from syncs.masking import mask_payload
from syncs.plan_sql import (
    LEAVING_OPS,
    PENDING_ADD,
    PENDING_REMOVE,
    WORK_OPS,
    PlanSql,
    build_plan_sql,
    field_alias,
)
from syncs.policies import PolicyTableMissing
from syncs.throttle import throttle_for
from syncs.warehouse import Warehouse

Progress = Callable[[int, int], None]
log = logging.getLogger(__name__)


def _now() -> datetime:
    """Naive UTC (portable TIMESTAMP without time zone)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Plan:
    """What a run would do now. Counts per operation, suppressed per reason, a masked sample."""

    sync: str
    mode: str
    counts: dict[str, int]  # add/update/remove/send/delete/erase/unchanged/parked/in_doubt/suppressed
    suppressed: dict[str, int]  # reason -> records
    audience_size: int
    eligible: int  # audience members passing every policy
    held: int  # records this sync put in the destination (its state)
    duplicate_keys: int
    sample: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None  # why a run would stop for confirmation
    sql: str = ""
    destination_key: str = ""  # the destination identity this plan diffs against
    target: str = ""  # "sandbox" or the real host, when the destination says
    held_elsewhere: int = 0  # records this sync holds at other destinations (re-pointed)
    running: str | None = None  # "run abc since 10:32" when another run holds the lease

    @property
    def work(self) -> int:
        return sum(self.counts.get(op, 0) for op in WORK_OPS)

    @property
    def new_destination(self) -> bool:
        """The sync points at a destination it has never written to, after writing elsewhere."""
        return self.held == 0 and self.held_elsewhere > 0

    def headline(self) -> str:
        """One line a person reads first: what a run would do, and where."""
        c = self.counts
        parts = [
            f"{c.get(op, 0)} {word}"
            for op, word in (
                ("add", "adds"),
                ("update", "updates"),
                ("remove", "removals"),
                ("erase", "erasures"),
                ("send", "sends"),
                ("delete", "deletions"),
            )
            if c.get(op, 0)
        ] or ["nothing to do"]
        where = f" at {self.target}" if self.target else ""
        if self.new_destination:
            return (
                f"new destination{where}: full sync, {', '.join(parts)} "
                f"({self.held_elsewhere} records held at the previous destination are left there)"
            )
        return f"{', '.join(parts)}{where}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["work"] = self.work
        return out


@dataclass
class RunResult:
    """What a run did.

    `status`:
    - success: every planned record was accepted (suppressed ones are not work);
    - partial: some records were rejected or left pending; the next run retries them;
    - needs_attention: sends in doubt the destination could not settle, or records
      parked after max_attempts: a person should look (`ferry sync parked`);
    - needs_confirmation: a safety stop (mass removal, empty audience, a floor);
    - busy: another run of this sync holds its lease; this one did nothing;
    - auth_failed, failed: the run stopped (credentials, a destination failing past
      its retry budget, a configuration or policy error); the rest stays pending;
    - crashed: a bug or a kill (marked by the run that takes over the lease).
    Every status but success carries a one-line `error` saying why.
    """

    run_id: str
    sync: str
    mode: str
    status: str = "running"
    planned: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    sent: int = 0  # accepted by the destination (any operation)
    failed: int = 0  # rejected this run, will be retried next run
    parked: int = (
        0  # parked this run (max attempts, unsettled in-doubt sends, destination opt-outs)
    )
    pending: int = 0  # retryable: left for the next run, no attempt counted
    in_doubt: int = 0  # send mode: answer lost, to reconcile next run
    reconciled: int = 0  # in-doubt sends settled at the start of this run
    duration_s: float = 0.0
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    destination_key: str = ""  # the destination identity this run wrote to
    target: str = ""  # "sandbox" or the real host, when the destination says

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("started_at", "finished_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


# --------------------------------------------------------------------------- plan


def _plan_sql(sync: SyncConfig, wh: Warehouse, state_ready: bool, dkey: str) -> PlanSql:
    pending = stale_pending(wh, sync, dkey) if state_ready else ()
    return build_plan_sql(sync, wh, state_ready, pending, destination_key=dkey)


def _summarise(
    sync: SyncConfig, rows: list[tuple]
) -> tuple[dict[str, int], dict[str, int], int, int, int]:
    counts: dict[str, int] = {
        op: 0 for op in (*WORK_OPS, "unchanged", "parked", "in_doubt", "suppressed")
    }
    suppressed: dict[str, int] = {}
    audience = eligible = dups = 0
    for op, reason, n, k in rows:
        if op == "suppressed" and reason:
            suppressed[reason] = suppressed.get(reason, 0) + n
        elif op == "suppressed_by_destination":
            suppressed["destination_opt_out"] = suppressed.get("destination_opt_out", 0) + n
            op = "suppressed"
        counts[op] = counts.get(op, 0) + n
        if op not in LEAVING_OPS:
            audience += n
            if reason is None:
                eligible += n
        if sync.mode != "send" and op in WORK_OPS and op not in LEAVING_OPS:
            dups += n - k
    return counts, suppressed, audience, eligible, dups


_MINE = "sync_name = ? and (destination_key = ? or destination_key is null)"
# A run's own writes: legacy rows were adopted when it started (state.adopt_legacy_rows).
_OURS = "sync_name = ? and destination_key = ?"
_LEAVING_SQL = "(" + ", ".join(f"'{op}'" for op in LEAVING_OPS) + ")"


def _held(
    wh: Warehouse, sync: SyncConfig, dkey: str, state_ready: bool, pending: tuple[str, ...] = ()
) -> int:
    """Records this sync holds at the destination (a killed run's write-ahead included)."""
    if not state_ready:
        return 0
    if pending:
        marked = " union ".join(f"select record_key from {t}" for t in pending)
        row = wh.fetchone(
            f"select count(*) from (select record_key from {st.STATE} where {_MINE} union {marked}) h",
            (sync.name, dkey),
        )
    else:
        row = wh.fetchone(f"select count(*) from {st.STATE} where {_MINE}", (sync.name, dkey))
    return int(row[0]) if row else 0


def destination_key(sync: SyncConfig, destination: Any | None) -> str:
    """The identity of the destination a sync's state belongs to (see syncs.state).

    Connectors declare it (`destination_identity`: type + account + list/audience);
    one that does not is known by its type and name in destinations.yml.
    """
    declared = getattr(destination, "destination_identity", None) if destination else None
    return str(declared) if declared else f"{sync.destination.type}:{sync.destination_name}"


def _last_destination_key(wh: Warehouse, sync: SyncConfig, state_ready: bool) -> str | None:
    """A dry run without a destination object plans against the one the last run used."""
    if not state_ready:
        return None
    row = wh.fetchone(
        f"select destination_key from {st.RUNS} where sync_name = ? and destination_key is not null "
        "order by started_at desc limit 1",
        (sync.name,),
    )
    return row[0] if row else None


def _holds_elsewhere(wh: Warehouse, sync: SyncConfig, dkey: str, state_ready: bool) -> int:
    """Records this sync holds at destinations other than `dkey` (it was re-pointed)."""
    if not state_ready:
        return 0
    row = wh.fetchone(
        f"select count(*) from {st.STATE} where sync_name = ? and destination_key is not null "
        "and destination_key <> ?",
        (sync.name, dkey),
    )
    return int(row[0]) if row else 0


def stop_reason(sync: SyncConfig, p: Plan, caps: Capabilities | None = None) -> str | None:
    """Why a run must wait for a human (`--confirm`), or None.

    Only what destroys data at the destination needs it: removals (mirror) when
    the audience came back empty or removals exceed max_removal_share of what the
    sync holds there; and a destination's own floor (e.g. Meta's minimum size).
    """
    if sync.mode == "mirror" and p.held > 0:
        if p.audience_size == 0:
            return f"audience {sync.relation} is empty: running would remove all {p.held} records"
        share = p.counts.get("remove", 0) / p.held
        if share > sync.policies.max_removal_share:
            return (
                f"{p.counts['remove']} removals = {share:.0%} of the {p.held} records held, over "
                f"max_removal_share {sync.policies.max_removal_share:.0%}"
            )
    if (
        caps
        and caps.min_audience_size
        and sync.mode in ("upsert", "mirror", "insert")
        and p.eligible < caps.min_audience_size
    ):
        return f"{p.eligible} eligible members, below the destination's minimum of {caps.min_audience_size}"
    return None


def plan(
    sync: SyncConfig,
    conn: Any,
    dry_run: bool = True,
    *,
    sample_size: int = 10,
    dialect: str | None = None,
    capabilities: Capabilities | None = None,
    destination: Destination | None = None,
    dkey: str | None = None,
) -> Plan:
    """Plan `sync` against the warehouse. Sends nothing and writes nothing (not even ferry_sync).

    `dry_run` is accepted for symmetry with the orchestration API; planning never
    writes. Raises PolicyTableMissing when a needed policy table is absent.
    `destination` (or its identity `dkey`) says whose state to diff against; without
    either, the destination of the sync's last run.
    """
    wh = conn if isinstance(conn, Warehouse) else Warehouse(conn, dialect)
    ready = st.state_exists(wh)
    if capabilities is None and destination is not None:
        capabilities = destination.capabilities
    if dkey is None:
        dkey = (
            destination_key(sync, destination)
            if destination is not None
            else _last_destination_key(wh, sync, ready) or destination_key(sync, None)
        )
    pending = stale_pending(wh, sync, dkey) if ready else ()
    sql = build_plan_sql(sync, wh, ready, pending, destination_key=dkey)
    # DuckDB: the sample's keys come with the counts, so the sample plans only those.
    keyed_sample = bool(sample_size) and wh.dialect == "duckdb"
    counts_sql, params = sql.counts_and_sample_keys(sample_size) if keyed_sample else sql.counts()
    rows = wh.fetchall(counts_sql, params)
    counts, suppressed, audience, eligible, dups = _summarise(sync, [r[:4] for r in rows])
    p = Plan(
        sync=sync.name,
        mode=sync.mode,
        counts=counts,
        suppressed=suppressed,
        audience_size=audience,
        eligible=eligible,
        held=_held(wh, sync, dkey, ready, pending),
        duplicate_keys=dups,
        sql=counts_sql,
        destination_key=dkey,
        target=str(getattr(destination, "target_label", "") or ""),
        held_elsewhere=_holds_elsewhere(wh, sync, dkey, ready),
    )
    holder = lease.holder_of(wh, sync.name) if ready else None
    if holder:
        p.running = f"run {holder[0][:8]} since {holder[1]:%Y-%m-%d %H:%M} UTC" if holder[1] else f"run {holder[0][:8]}"
    if keyed_sample:
        keys = tuple(sorted({k for r in rows for k in (r[4] or ())})[:sample_size])
        sql = build_plan_sql(sync, wh, ready, pending, only_keys=keys, destination_key=dkey)
    if sample_size:
        sample_sql, sample_params = sql.sample(sample_size)
        identifiers = set(sync.identifiers)
        for batch in wh.stream(sample_sql, sample_params, batch_rows=sample_size):
            for record, *_ in _records(sync, batch, erase_as=_erase_operation(capabilities)):
                p.sample.append(
                    {
                        "key": record.key,
                        "operation": record.operation.value,
                        "payload": mask_payload(dict(record.payload), identifiers),
                    }
                )
    p.stop_reason = stop_reason(sync, p, capabilities)
    return p


# --------------------------------------------------------------------------- records


# The same mapping in SQL, for results written straight from the plan table.
_OPERATION_SQL = (
    "case p.__op when 'remove' then 'remove' when 'send' then 'send' "
    "when 'delete' then 'delete' when 'erase' then 'delete' else 'upsert' end"
)

_OPERATIONS = {
    "add": Operation.UPSERT,
    "update": Operation.UPSERT,
    "remove": Operation.REMOVE,
    "send": Operation.SEND,
    "delete": Operation.DELETE,
}


def _erase_operation(caps: Capabilities | None) -> Operation:
    """How an erased person leaves a destination: deleted where it can delete a person
    (SendGrid contacts), else removed (ad audiences, whose only erasure is removal)."""
    return Operation.DELETE if caps is None or "delete" in caps.modes else Operation.REMOVE


# Payload key an update carries when an identifier changed since the destination last
# accepted the record (e.g. a new e-mail address): the identifiers it held before, so
# the destination can take the old contact out (see connectors.base.REPLACED_IDENTIFIERS).
REPLACED = REPLACED_IDENTIFIERS

# An item of the stream: (Record for the destination, its __seq in the plan table, its JSON size,
# flags: HELD if sync_state has a row for it, FAILING if record_status has one). Everything else
# the commit needs stays in the plan table and is joined there in SQL.
Item = tuple[Record, int, int, int]
HELD, FAILING = 1, 2


def _records(
    sync: SyncConfig,
    batch: pa.RecordBatch,
    sizes: bool = False,
    erase_as: Operation = Operation.DELETE,
) -> Iterator[Item]:
    """Arrow rows of the plan -> (Record, __seq, bytes, flags); bytes is 0 unless `sizes`."""
    payload_columns = sync.payload_columns()
    arrow_fields = [
        (name, batch.column(f"p__{name}"), on_null == "clear")
        for name, (_c, on_null) in payload_columns.items()
    ]
    cols = {
        name: batch.column(name).to_pylist()
        for name in ("__op", "__key", "__attempts", "__ids", "__dest_id", "__idem", "__state_ids")
    }
    fields = [(name, column.to_pylist(), clear) for name, column, clear in arrow_fields]
    identifiers = set(sync.identifiers)
    ops, keys, attempts_col = cols["__op"], cols["__key"], cols["__attempts"]
    ids_col, dest_col, idem_col = cols["__ids"], cols["__dest_id"], cols["__idem"]
    state_ids_col = cols["__state_ids"]
    n = batch.num_rows
    seqs = (
        batch.column("__seq").to_pylist()
        if "__seq" in batch.schema.names
        else list(range(1, n + 1))
    )
    variants = batch.column("__variant").to_pylist() if "__variant" in batch.schema.names else None
    # Upsert payloads are measured column-wise (see batching.payload_sizes); others one by one.
    upsert_sizes = payload_sizes(arrow_fields, n) if sizes else None
    held = pc.cast(pc.is_valid(batch.column("__state_hash")), pa.int8())
    failing = pc.cast(pc.fill_null(batch.column("__in_status"), False), pa.int8())
    flags = pc.add(pc.multiply(held, HELD), pc.multiply(failing, FAILING)).to_pylist()
    for i in range(n):
        op = ops[i]
        dest_id = dest_col[i]
        if op in LEAVING_OPS:
            payload = json.loads(ids_col[i] or "{}")
        else:
            payload = {name: col[i] for name, col, clear in fields if clear or col[i] is not None}
            if op == "delete":
                payload = {k: v for k, v in payload.items() if k in identifiers}
            elif op == "send":
                # Attribution travels with the message (SendGrid custom_args, Twilio tags), so
                # engagement coming back can be tied to the sync, audience and A/B variant.
                payload["ferry_sync"] = sync.name
                payload["ferry_audience"] = sync.audience
                if variants is not None and variants[i] is not None:
                    payload["ferry_variant"] = variants[i]
            elif op == "update" and state_ids_col[i] and state_ids_col[i] != ids_col[i]:
                before = _replaced(json.loads(state_ids_col[i]), payload, identifiers)
                if before:
                    payload[REPLACED] = before
        if dest_id and op in ("remove", "delete", "erase"):
            payload["_destination_id"] = dest_id
        # Positional: a third cheaper than keywords, per record (key, operation, payload,
        # idempotency_key, attempt: the field order of connectors.base.Record).
        record = Record(
            keys[i],
            erase_as if op == "erase" else _OPERATIONS[op],
            payload,
            idem_col[i] if op == "send" else None,
            (attempts_col[i] or 0) + 1,
        )
        if upsert_sizes is None:
            size = 0
        elif op in ("add", "update"):
            size = upsert_sizes[i]
        else:
            size = record_bytes(record)
        yield record, seqs[i], size, flags[i]


def _replaced(before: dict[str, Any], payload: dict[str, Any], identifiers: set[str]) -> dict[str, Any]:
    """The identifiers the destination holds that this update changes (empty: none)."""
    changed = {
        k: v
        for k, v in before.items()
        if k in identifiers and v not in (None, "") and payload.get(k) != v
    }
    return before if changed else {}


# --------------------------------------------------------------------------- commit


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


def _pending_prefix(sync: SyncConfig, dkey: str) -> str:
    """Per sync and destination: a killed run's write-ahead belongs to the target it wrote to."""
    return "pending_" + hashlib.md5(f"{sync.name}\x1f{dkey}".encode()).hexdigest()[:10] + "_"


def stale_pending(wh: Warehouse, sync: SyncConfig, dkey: str) -> tuple[str, ...]:
    """Write-ahead tables of this sync's runs (to this destination) killed before they finished."""
    rows = wh.fetchall(
        "select table_name from information_schema.tables where table_schema = ? and table_name like ? "
        "order by table_name",
        (st.SCHEMA, _pending_prefix(sync, dkey) + "%"),
    )
    return tuple(f"{st.SCHEMA}.{name}" for (name,) in rows)


def _fold_pending(wh: Warehouse, sync: SyncConfig, run_id: str, dkey: str) -> None:
    """Turn a killed run's write-ahead into PENDING_ADD markers in sync_state, in one commit.

    Keys already in sync_state were committed by the killed run (or held before): they
    keep their state. The others may have reached the destination: marked, they re-plan
    as add (or as remove, in mirror mode, if the member left).
    """
    tables = stale_pending(wh, sync, dkey)
    if not tables:
        return
    marked = " union all ".join(f"select record_key, identifiers_json from {t}" for t in tables)
    with wh.transaction():
        wh.execute(
            f"insert into {st.STATE} (sync_name, record_key, payload_hash, identifiers_json, synced_at, run_id, "
            "destination_key) "
            f"select ?, m.record_key, ?, max(m.identifiers_json), ?, ?, ? from ({marked}) m "
            f"where not exists (select 1 from {st.STATE} s where s.sync_name = ? and s.destination_key = ? "
            "and s.record_key = m.record_key) group by m.record_key",
            [sync.name, PENDING_ADD, _now(), run_id, dkey, sync.name, dkey],
        )
        for table in tables:
            wh.execute(f"drop table {table}")


class _Runner:
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
        self.erase_as = _erase_operation(destination.capabilities)
        self.first_error: dict[Outcome, str] = {}  # the first error per outcome, for the summary
        self.stopped: str | None = None  # why the run stopped before the end of its plan
        self.max_attempts = sync.policies.max_attempts
        self.table = ""  # the materialized plan of this run (see _materialize)
        self.seq = "__seq"  # its row number column (DuckDB: the temporary table's rowid)
        self.pending: str | None = None  # this run's write-ahead table

    # ---- send ledger
    def occurrences(self, batch: list[Item]) -> dict[str, str]:
        """Send mode: record key -> trigger occurrence, for the ledger rows of one batch."""
        lo, hi = batch[0][1], batch[-1][1]
        rows = self.wh.fetch_arrow(
            f"select __key, __occ from {self.table} where {self.seq} between ? and ?",
            (lo, hi),
            local=True,
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
        later ledger row of that send keeps (see `_ledger_row`)."""
        now = _now()
        batch = [(replace(r, intent_at=now), *rest) for r, *rest in batch]
        rows = [
            self._ledger_row(r, occ[r.key], st.INTENT, r.attempt - 1, None, None, now)
            for r, *_ in batch
        ]
        with self.wh.transaction():
            self.fence()
            self._replace_ledger(rows)
        return batch

    def fence(self) -> None:
        """Inside a transaction that lets records leave: renew the lease or stop (LeaseLost)."""
        if self.lease is not None:
            self.lease.renew()

    def _replace_ledger(self, rows: list[dict[str, Any]]) -> None:
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

    def write_ahead(self) -> None:
        """Before any add/removal leaves: record them all, in SQL, one commit.

        Why: a kill after the destination applied a batch but before its commit
        would otherwise leave an add the engine does not know about (never removed
        when the member leaves: an orphan) or a removal it does not know about
        (skipped as 'unchanged' if the member comes back: a lost record). Adds go to
        this run's own pending table (written once, dropped once every batch sent
        is committed, so the per-batch commits never have to rewrite markers in a
        large sync_state); a killed run's table is folded into sync_state as
        PENDING_ADD markers by the next run (`_fold_pending`) and counted by plans
        until then. Removals are marked PENDING_REMOVE in sync_state. Marked rows
        re-plan as add / remove, so the next run repeats them (idempotent). Taken
        from the materialized plan, so exactly what this run will send.
        """
        self.pending = f"{st.SCHEMA}.{_pending_prefix(self.sync, self.dkey)}{self.result.run_id[:12]}"
        with self.wh.transaction():
            self.fence()
            self.wh.execute(
                f"create table {self.pending} as select __key as record_key, __ids as identifiers_json "
                f"from {self.table} where __op = 'add' and __state_hash is null",
            )
            self.wh.execute(
                f"update {st.STATE} set payload_hash = ? where sync_name = ? and destination_key = ? "
                f"and payload_hash <> ? and record_key in (select __key from {self.table} where __op = 'remove')",
                [PENDING_REMOVE, self.sync.name, self.dkey, PENDING_REMOVE],
            )

    def release_write_ahead(self) -> None:
        """Every batch that left has been committed (accepted, or marked in sync_state)."""
        if self.pending:
            self.wh.execute(f"drop table if exists {self.pending}")
            self.pending = None

    def _ledger_row(
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
        }

    # ---- settle one batch
    def settle(
        self,
        batch: list[Item],
        outcome: list[RecordResult] | BatchAccepted | BaseException,
        occ: dict[str, str] | None = None,
    ) -> None:
        send = self.sync.mode == "send"
        now = _now()
        ids = None if send else self._all_accepted(batch, outcome)
        if ids is not None:
            with self.wh.transaction():
                self.fence()
                self._commit_accepted(batch, ids, now)
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
        with self.wh.transaction():
            self.fence()
            if send:
                self._commit_send(resolved, occ or {}, now)
            else:
                self._commit_records(resolved, now)

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

    def _commit_accepted(
        self, batch: list[Item], destination_ids: Mapping[str, str], now: datetime
    ) -> None:
        """The common case: every record of the batch accepted. Written from the plan table in
        SQL, so nothing per record is built in Python (destination ids, if any, are staged)."""
        sync, wh, p, seq = self.sync, self.wh, self.table, self.seq
        lo, hi = batch[0][1], batch[-1][1]
        assert hi - lo + 1 == len(batch), "a batch is a run of consecutive plan rows"
        self.result.sent += len(batch)
        rng = [lo, hi]
        if destination_ids:
            ids = pa.table(
                {
                    "k": pa.array(list(destination_ids), pa.string()),
                    "d": pa.array(list(destination_ids.values()), pa.string()),
                }
            )
            stage = wh.stage("__ferry_ids", ids)
        else:
            stage = contextlib.nullcontext(None)
        # Which deletes the batch needs, from the plan table (a few thousand rows): a delete
        # whose key list comes out empty still scans sync_state, which grows with the audience.
        held = any(item[3] & HELD for item in batch)
        failing = any(item[3] & FAILING for item in batch)
        with stage as ids_name:
            join = f"left join {ids_name} i on i.k = p.__key" if ids_name else ""
            dest = "i.d" if ids_name else "cast(null as varchar)"
            if held:
                wh.execute(
                    f"delete from {st.STATE} where {_OURS} and record_key in "
                    f"(select __key from {p} where {seq} between ? and ? and __state_hash is not null)",
                    [sync.name, self.dkey, *rng],
                )
            wh.execute(
                f"insert into {st.STATE} ({', '.join(st.STATE_COLUMNS)}) select ?, p.__key, p.__hash, p.__ids, "
                f"coalesce({dest}, p.__dest_id), ?, ?, ?, p.__profile from {p} p {join} "
                f"where p.{seq} between ? and ? and p.__op not in {_LEAVING_SQL}",
                [sync.name, now, self.result.run_id, self.dkey, *rng],
            )
            if failing:
                wh.execute(
                    f"delete from {st.STATUS} where {_OURS} and record_key in "
                    f"(select __key from {p} where {seq} between ? and ? and __in_status)",
                    [sync.name, self.dkey, *rng],
                )
            wh.execute(
                f"insert into {st.RESULTS} ({', '.join(st.RESULT_COLUMNS)}) select ?, ?, p.__key, {_OPERATION_SQL}, "
                f"'accepted', cast(null as varchar), p.__attempts + 1, {dest}, ? from {p} p {join} "
                f"where p.{seq} between ? and ?",
                [self.result.run_id, sync.name, now, *rng],
            )

    def _commit_records(self, resolved: list[tuple[Item, RecordResult]], now: datetime) -> None:
        """One batch with some record not accepted: its outcomes staged as Arrow, joined to the plan table."""
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
        if not seqs:
            return
        outcomes = pa.table(
            {
                "seq": pa.array(seqs, pa.int64()),
                "status": pa.array(statuses, pa.string()),
                "error": pa.array(errors, pa.string()),
                "rdest": pa.array(result_dest, pa.string()),
                "after": pa.array(attempts_after, pa.int32()),
            }
        )
        sync, wh, p = self.sync, self.wh, self.table
        with wh.stage("__ferry_batch", outcomes) as b:
            rows = f"from {p} p join {b} b on b.seq = p.{self.seq}"
            wh.execute(
                f"delete from {st.STATE} where {_OURS} and record_key in "
                f"(select p.__key {rows} where b.status = 'accepted' and p.__state_hash is not null)",
                [sync.name, self.dkey],
            )
            wh.execute(
                f"insert into {st.STATE} ({', '.join(st.STATE_COLUMNS)}) select ?, p.__key, p.__hash, p.__ids, "
                f"coalesce(b.rdest, p.__dest_id), ?, ?, ?, p.__profile {rows} "
                f"where b.status = 'accepted' and p.__op not in {_LEAVING_SQL}",
                [sync.name, now, self.result.run_id, self.dkey],
            )
            # An add that left but was not accepted may still be at the destination: keep it
            # known (it re-plans as add, or as remove if the member leaves). See write_ahead.
            wh.execute(
                f"insert into {st.STATE} ({', '.join(st.STATE_COLUMNS)}) select ?, p.__key, ?, p.__ids, "
                f"cast(null as varchar), ?, ?, ?, p.__profile {rows} where b.status <> 'accepted' "
                "and p.__op = 'add' and p.__state_hash is null",
                [sync.name, PENDING_ADD, now, self.result.run_id, self.dkey],
            )
            wh.execute(
                f"delete from {st.STATUS} where {_OURS} and record_key in "
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
                f"insert into {st.RESULTS} ({', '.join(st.RESULT_COLUMNS)}) select ?, ?, p.__key, {_OPERATION_SQL}, "
                f"b.status, b.error, p.__attempts + 1, b.rdest, ? {rows}",
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
                self._ledger_row(
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
        self._replace_ledger(ledger_rows)
        self.wh.insert_rows(
            st.RESULTS,
            st.RESULT_COLUMNS,
            _results_table(self.result.run_id, self.sync, result_rows, now),
        )

    # ---- reconcile
    def reconcile(self) -> None:
        """Settle every intent/in-doubt send of this sync with the destination before planning.

        Proof only: the destination finds the message by what Ferry set on it (its
        idempotency key, or a message created after the intent), or proves it absent.
        What it cannot settle stays `in_doubt` with the destination's reason: never
        sent again automatically, never counted as sent, listed by `ferry sync parked`,
        and the run ends `needs_attention`.
        """
        rows = self.wh.fetchall(
            f"select idempotency_key, record_key, occurrence, attempts, payload_json, created_at, status "
            f"from {st.LEDGER} where {_OURS} and status in (?, ?) order by idempotency_key",
            (self.sync.name, self.dkey, st.INTENT, st.IN_DOUBT),
        )
        if not rows:
            return
        items = [
            (
                Record(
                    key=rk,
                    operation=Operation.SEND,
                    payload=json.loads(pj or "{}"),
                    idempotency_key=ik,
                    attempt=at + 1,
                    intent_at=created,
                ),
                occ or "",
            )
            for ik, rk, occ, at, pj, created, _status in rows
        ]
        for batch in batches(items, self.destination.capabilities):
            records = [r for r, _ in batch]
            try:
                results = expand_results(records, self.destination.reconcile(records))
            except AuthError:
                raise
            except DestinationError as exc:
                # The destination could not answer: these stay in doubt (not sent again).
                self.result.in_doubt += len(batch)
                self.first_error.setdefault(Outcome.IN_DOUBT, f"lookup failed: {exc}")
                continue
            by_key = {res.key: res for res in results}
            now = _now()
            ledger_rows = []
            for r, occurrence in batch:
                res = by_key.get(r.key) or RecordResult(
                    r.key, Outcome.IN_DOUBT, "the destination returned no answer for it"
                )
                attempts = r.attempt - 1
                if res.outcome == Outcome.ACCEPTED:
                    status, error = st.SENT, None
                    self.result.reconciled += 1
                elif res.outcome == Outcome.RETRYABLE:
                    status, error = st.RETRY, f"proven absent at the destination: {res.error or ''}".rstrip(": ")
                    self.result.reconciled += 1
                elif res.outcome == Outcome.REJECTED:
                    attempts += 1
                    status = st.PARKED if attempts >= self.max_attempts else st.REJECTED
                    error = res.error
                    self.result.reconciled += 1
                else:
                    status = st.IN_DOUBT
                    error = f"in doubt: {res.error or 'the destination could not settle it'}"
                    self.result.in_doubt += 1
                    self.first_error.setdefault(
                        Outcome.IN_DOUBT, res.error or "the destination could not settle it"
                    )
                ledger_rows.append(
                    self._ledger_row(r, occurrence, status, attempts, res.destination_id, error, now)
                )
            with self.wh.transaction():
                self._replace_ledger(ledger_rows)

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
            parts.append(f"{r.failed} records rejected ({first.get(Outcome.REJECTED) or 'rejected'}), retried next run")
        if r.pending and not self.stopped:
            parts.append(f"{r.pending} records left pending ({first.get(Outcome.RETRYABLE) or 'retryable'}), retried next run")
        reason = "; ".join(parts) or None
        if self.stopped:
            return "failed", reason
        if r.in_doubt or r.parked:
            return "needs_attention", reason
        if r.failed or r.pending:
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
    ]
)


# --------------------------------------------------------------------------- run


def check_capabilities(sync: SyncConfig, caps: Capabilities) -> None:
    """Refuse a sync the destination cannot do, before anything is planned or sent."""
    if sync.mode not in caps.modes:
        raise SyncConfigError(
            f"sync {sync.name}: destination {sync.destination_name} does not support mode {sync.mode!r} "
            f"(supports {sorted(caps.modes)})"
        )
    unknown = set(sync.identifiers) - set(caps.identifiers)
    if unknown:
        raise SyncConfigError(
            f"sync {sync.name}: identifiers {sorted(unknown)} not accepted by {sync.destination_name} "
            f"(accepts {sorted(caps.identifiers)})"
        )


def _insert_run(wh: Warehouse, sync: SyncConfig, r: RunResult) -> None:
    wh.execute(
        f"insert into {st.RUNS} (run_id, sync_name, mode, destination, status, started_at, destination_key, "
        "target) values (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.run_id,
            sync.name,
            sync.mode,
            sync.destination_name,
            r.status,
            r.started_at,
            r.destination_key,
            r.target or None,
        ),
    )


def _finish_run(wh: Warehouse, r: RunResult) -> None:
    planned = r.planned
    wh.execute(
        f"update {st.RUNS} set status = ?, finished_at = ?, planned_adds = ?, planned_updates = ?, "
        "planned_removes = ?, unchanged = ?, sent = ?, failed = ?, parked = ?, pending = ?, suppressed = ?, "
        "suppressed_json = ?, reconciled = ?, error = ?, in_doubt = ?, planned_erasures = ? where run_id = ?",
        (
            r.status,
            r.finished_at,
            planned.get("add", 0),
            planned.get("update", 0),
            planned.get("remove", 0),
            planned.get("unchanged", 0),
            r.sent,
            r.failed,
            r.parked,
            r.pending,
            sum(r.suppressed.values()),
            json.dumps(r.suppressed, sort_keys=True),
            r.reconciled,
            r.error,
            r.in_doubt,
            planned.get("erase", 0),
            r.run_id,
        ),
    )


def run(
    sync: SyncConfig,
    conn: Any,
    destination: Destination,
    *,
    confirm: bool = False,
    progress: Progress | None = None,
    dialect: str | None = None,
    stream_rows: int = 10_000,
    lease_ttl: float = lease.DEFAULT_TTL_SECONDS,
) -> RunResult:
    """Run one sync now. Never raises for destination trouble: read `RunResult.status`.

    Exceptions that are not the destination's typed errors (a bug, a kill) are
    re-raised after the run row is marked `crashed`; committed state stays valid.
    One run per sync at a time: a run first takes the sync's lease (`syncs.lease`);
    while another run holds it, this one returns status `busy` and does nothing.
    """
    wh = conn if isinstance(conn, Warehouse) else Warehouse(conn, dialect)
    clock = time.perf_counter()
    caps = destination.capabilities
    dkey = destination_key(sync, destination)
    result = RunResult(
        run_id=uuid.uuid4().hex,
        sync=sync.name,
        mode=sync.mode,
        started_at=_now(),
        destination_key=dkey,
        target=str(getattr(destination, "target_label", "") or ""),
    )
    check_capabilities(sync, caps)
    st.ensure_state(wh)
    try:
        held_lease = lease.acquire(wh, sync.name, result.run_id, st.RUNS, ttl=lease_ttl)
    except lease.SyncBusy as exc:
        result.status, result.error = "busy", str(exc)
        result.finished_at = _now()
        result.duration_s = time.perf_counter() - clock
        return result
    runner = _Runner(sync, wh, destination, result, dkey, held_lease)
    try:
        _insert_run(wh, sync, result)
        with wh.transaction():
            st.adopt_legacy_rows(wh, sync.name, dkey)
        _fold_pending(wh, sync, result.run_id, dkey)
        if sync.mode == "send":
            runner.reconcile()
        p = plan(sync, wh, sample_size=0, capabilities=caps, dkey=dkey)
        result.planned = dict(p.counts)
        result.suppressed = dict(p.suppressed)
        if p.duplicate_keys:
            raise ValueError(
                f"audience {sync.relation} has {p.duplicate_keys} duplicate {sync.key} values"
            )
        if p.stop_reason and not confirm:
            result.status, result.error = "needs_confirmation", p.stop_reason
            return result
        with wh.deferred_checkpoints():
            _apply(runner, p, progress, stream_rows)
        result.status, result.error = runner.verdict()
        if wh.dialect == "postgres" and result.sent:
            # A first sync inserts the whole audience into sync_state; until autovacuum gets
            # to it, PostgreSQL plans the next diff as if the table were empty (nested loops
            # over 100k rows: minutes instead of a second). Fresh statistics, sampled, cost ms.
            wh.execute(f"analyze {st.STATE}")
    except DestinationStopped as exc:
        result.status, result.error = "failed", f"stopped by the destination: {exc}"
    except AuthError as exc:
        result.status, result.error = "auth_failed", f"AuthError: {exc}"
    except lease.LeaseLost as exc:
        result.status, result.error = "failed", str(exc)
    except (PolicyTableMissing, SyncConfigError, ValueError) as exc:
        result.status, result.error = "failed", str(exc)
    except BaseException as exc:
        result.status, result.error = "crashed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        result.finished_at = _now()
        result.duration_s = time.perf_counter() - clock
        for step in (lambda: _finish_run(wh, result), held_lease.release):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - never mask the run's own outcome
                log.warning(
                    "sync %s: could not record the end of run %s: %s", sync.name, result.run_id, exc
                )
    return result


def _plan_table_prefix(sync: SyncConfig) -> str:
    return "plan_" + hashlib.md5(sync.name.encode()).hexdigest()[:10] + "_"


def _drop_stale_plans(wh: Warehouse, sync: SyncConfig) -> None:
    """Plan tables left by killed runs of this sync (runs of one sync never overlap)."""
    prefix = _plan_table_prefix(sync)
    for (name,) in wh.fetchall(
        "select table_name from information_schema.tables where table_schema = ? and table_name like ?",
        (st.SCHEMA, prefix + "%"),
    ):
        wh.execute(f"drop table if exists {st.SCHEMA}.{name}")


def _materialize(
    wh: Warehouse, sync: SyncConfig, plan_sql: PlanSql, run_id: str
) -> tuple[str, str, int]:
    """Write the changed rows (only those) to a numbered table.

    Why not stream the plan query directly: an open read would pin the snapshot
    while every batch commits, so the warehouse keeps all intermediate versions
    (memory and time grow with the run). Chunks read by sequence number are short
    queries; the table also makes the write-ahead exactly the set that is sent, and
    each batch's commit is written from it in SQL. On DuckDB it is a temporary table
    (the session's memory, no WAL: it is rebuilt by the next run anyway, and writing
    it to the database file cost more than planning); elsewhere a table in
    ferry_sync, because the Arrow reader is another connection.

    Returns (table, row number column, rows). The row number column is dense: from 1,
    or on DuckDB the temporary table's rowid (from 0, and stable: nothing is ever
    deleted from it), whose range filters skip straight to the rows, where a
    row_number() column costs a window over the whole change and a scan per read.
    """
    ops = ", ".join(f"'{o}'" for o in WORK_OPS)
    local = wh.dialect == "duckdb"
    name = f"{_plan_table_prefix(sync)}{run_id[:12]}"
    table = name if local else f"{st.SCHEMA}.{name}"
    numbered = "" if local else "row_number() over () as __seq, "
    wh.execute(
        f"create {'temporary ' if local else ''}table {table} as {plan_sql.base} "
        f"select {numbered}* from planned where __op in ({ops})",
        plan_sql.params,
    )
    [(rows,)] = wh.fetchall(f"select count(*) from {table}")
    return table, ("rowid" if local else "__seq"), int(rows)


def _apply(runner: _Runner, p: Plan, progress: Progress | None, stream_rows: int) -> None:
    sync, wh = runner.sync, runner.wh
    if not p.work:
        return
    _drop_stale_plans(wh, sync)
    table, seq, rows = _materialize(
        wh, sync, _plan_sql(sync, wh, True, runner.dkey), runner.result.run_id
    )
    runner.table, runner.seq = table, seq
    try:
        _send_all(runner, rows, progress, stream_rows)
    finally:
        wh.execute(f"drop table if exists {table}")


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


def _send_all(runner: _Runner, rows: int, progress: Progress | None, stream_rows: int) -> None:
    sync, wh, destination, table = runner.sync, runner.wh, runner.destination, runner.table
    caps = destination.capabilities
    if sync.mode in ("upsert", "mirror", "insert"):
        runner.write_ahead()
    total, done = rows, 0
    if progress:
        progress(0, total)
    stream_columns = _STREAM_COLUMNS + (("__variant",) if sync.mode == "send" else ())
    seq = runner.seq
    first = 0 if seq == "rowid" else 1
    columns = ", ".join(
        (f"{seq} as __seq", *stream_columns, *(field_alias(f) for f in sync.payload_columns()))
    )
    sizes = caps.max_batch_bytes is not None

    def build(chunk: pa.Table) -> list[Item]:
        return [
            item
            for arrow_batch in chunk.to_batches()
            for item in _records(sync, arrow_batch, sizes, runner.erase_as)
        ]

    def items() -> Iterator[Item]:
        """Chunks read on this thread (the connection is not shared), turned into Records on
        a helper thread one chunk ahead: that Python work overlaps the warehouse's commits
        and the destination's requests, which release the GIL. Memory: two chunks."""
        starts = iter(range(0, rows, stream_rows))
        ahead: deque[Future] = deque()

        def read_next() -> None:
            start = next(starts, None)
            if start is not None:
                chunk = wh.fetch_arrow(
                    f"select {columns} from {table} where {seq} >= ? and {seq} < ? order by {seq}",
                    (first + start, first + start + stream_rows),
                    local=True,
                )
                ahead.append(builder.submit(build, chunk))

        with ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"records-{sync.name}"
        ) as builder:
            read_next()
            read_next()
            while ahead:
                chunk_items = ahead.popleft().result()
                read_next()
                yield from chunk_items

    workers = max(1, caps.max_concurrency)
    pool = (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sync-{sync.name}")
        if workers > 1
        else None
    )
    in_flight: deque[tuple[list[Item], Future, dict[str, str] | None]] = deque()
    stop: BaseException | None = None

    send = sync.mode == "send"

    def call(batch: list[Item]) -> list[RecordResult] | BatchAccepted:
        records = [r for r, *_ in batch]
        try:
            return destination.write(records)
        except DestinationError:
            raise
        except Exception as exc:  # noqa: BLE001 - a payload fault: see connectors.base.DestinationError
            return _isolate_fault(destination, records, exc, send)

    def settle_next() -> None:
        nonlocal done, stop
        batch, fut, occ = in_flight.popleft()
        try:
            outcome: list[RecordResult] | BatchAccepted | BaseException = fut.result()
        except BaseException as exc:  # noqa: BLE001 - classified in settle()
            outcome = exc
        runner.settle(batch, outcome, occ)
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

    failing = [0]  # batches in a row in which nothing was accepted for a transient reason
    # One request per send: each send's intent is committed just before its own request.
    batch_caps = replace(caps, max_batch_records=1) if send and caps.request_per_send else caps
    # The destination's request budget, shared with every other sync to it in this process.
    pace = throttle_for(runner.dkey, caps.max_requests_per_second, workers)
    try:
        for batch in batches(items(), batch_caps, unique_keys=not send, size_of=_item_size):
            if stop is not None:
                break
            pace.acquire()
            occ = None
            if send:
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
        while in_flight:
            settle_next()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
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
                RecordResult(record.key, Outcome.REJECTED, f"connector error: {type(one).__name__}: {one}")
            )
    return out


def _item_size(item: Item) -> int:
    return item[2]
