"""Plan: what a run of a sync would do now. Dry runs send nothing and write nothing.

The diff itself is SQL (`syncs.plan_sql`); this module counts it, samples it
(masked), knows whose state it diffs against (the destination identity) and
decides whether a run must wait for a human (`stop_reason`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from connectors.base import Capabilities, Destination
from syncs import lease
from syncs import state as st
from syncs.config import SyncConfig
from syncs.erasure import erasable_sends
from syncs.masking import mask_payload
from syncs.plan_sql import LEAVING_OPS, WORK_OPS, build_plan_sql
from syncs.records import erase_operation, plan_records
from syncs.warehouse import Warehouse
from syncs.write_ahead import stale_pending


@dataclass
class Plan:
    """What a run would do now. Counts per operation, suppressed per reason, a masked sample."""

    sync: str
    mode: str
    counts: dict[
        str, int
    ]  # add/update/remove/send/delete/erase/unchanged/parked/in_doubt/suppressed
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


def _summarise(
    sync: SyncConfig, rows: list[tuple]
) -> tuple[dict[str, int], dict[str, int], int, int, int]:
    """Counts, suppressed by reason, audience size, eligible and duplicate keys from the
    rows of `PlanSql.counts()` (the grand total row: op and reason null)."""
    counts: dict[str, int] = {
        op: 0 for op in (*WORK_OPS, "unchanged", "parked", "in_doubt", "suppressed")
    }
    suppressed: dict[str, int] = {}
    audience = eligible = work = distinct_work = 0
    for op, reason, n, k in rows:
        if op is None:
            distinct_work = k  # the grand total: distinct keys with work, whatever the op
            continue
        if reason and op in (*LEAVING_OPS, "parked"):
            # A held record leaving (or parked leaving) whose member is still listed, held
            # back for `reason` (see syncs.plan_sql): a suppressed member as well.
            suppressed[reason] = suppressed.get(reason, 0) + n
            counts["suppressed"] += n
            counts[op] += n
            audience += n
            work += n if op in WORK_OPS else 0
            continue
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
        if op in WORK_OPS:
            work += n
    # Send mode sends a key once per occurrence; every other mode plans a key at most once.
    dups = 0 if sync.mode == "send" else work - distinct_work
    return counts, suppressed, audience, eligible, dups


_MINE = "sync_name = ? and (destination_key = ? or destination_key is null)"


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
    with wh.plan_settings():  # DuckDB: memory cap, no insertion order (results unchanged)
        return _plan(sync, wh, sample_size, capabilities, destination, dkey)


def _plan(
    sync: SyncConfig,
    wh: Warehouse,
    sample_size: int,
    capabilities: Capabilities | None,
    destination: Destination | None,
    dkey: str | None,
) -> Plan:
    """`plan()` on a Warehouse, under its plan settings."""
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
    target = str(getattr(destination, "target_label", "") or "")
    p = counted_plan(
        sync, wh, [r[:4] for r in rows], dkey, pending, None, counts_sql, target, ready, destination
    )
    if keyed_sample:
        keys = tuple(sorted({k for r in rows if r[0] for k in (r[4] or ())})[:sample_size])
        sql = build_plan_sql(sync, wh, ready, pending, only_keys=keys, destination_key=dkey)
    if sample_size:
        sample_sql, sample_params = sql.sample(sample_size)
        identifiers = set(sync.identifiers)
        for batch in wh.stream(sample_sql, sample_params, batch_rows=sample_size):
            for record, *_ in plan_records(sync, batch, erase_as=erase_operation(capabilities)):
                p.sample.append(
                    {
                        "key": record.key,
                        "operation": record.operation.value,
                        "payload": mask_payload(dict(record.payload), identifiers),
                    }
                )
    p.stop_reason = stop_reason(sync, p, capabilities)
    return p


def counted_plan(
    sync: SyncConfig,
    wh: Warehouse,
    rows: list[tuple],
    dkey: str,
    pending: tuple[str, ...],
    capabilities: Capabilities | None,
    sql: str,
    target: str = "",
    ready: bool = True,
    destination: Destination | None = None,
) -> Plan:
    """The Plan of the rows of `PlanSql.counts()` (or `counts_from`): counts, what the sync
    holds, who runs it now and, given `capabilities`, why a run would stop.

    Shared by the dry run (which counts with one query and samples) and a run (which
    counts from its materialized diff: syncs.plan_table)."""
    counts, suppressed, audience, eligible, dups = _summarise(sync, rows)
    if sync.mode == "send" and ready:
        counts["erase"] = erasable_sends(wh, sync, dkey, destination)  # see syncs.erasure
    p = Plan(
        sync=sync.name,
        mode=sync.mode,
        counts=counts,
        suppressed=suppressed,
        audience_size=audience,
        eligible=eligible,
        held=_held(wh, sync, dkey, ready, pending),
        duplicate_keys=dups,
        sql=sql,
        destination_key=dkey,
        target=target,
        held_elsewhere=_holds_elsewhere(wh, sync, dkey, ready),
    )
    holder = lease.holder_of(wh, sync.name) if ready else None
    if holder:
        p.running = (
            f"run {holder[0][:8]} since {holder[1]:%Y-%m-%d %H:%M} UTC"
            if holder[1]
            else f"run {holder[0][:8]}"
        )
    if capabilities is not None:
        p.stop_reason = stop_reason(sync, p, capabilities)
    return p
