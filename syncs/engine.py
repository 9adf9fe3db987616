"""The sync engine: plan -> policies -> batches -> destination -> per-record results -> state.

Why this order and these commits: scheduled runs have no one watching, so the
engine is built to be killed at any instant. State is committed with the
results of the batches it belongs to, only after the destination answered (in one
transaction per few batches: `syncs.runner.Runner.flush`); a run killed before
the commit simply re-plans those records next time (adds are in the write-ahead,
removals marked, and upserts and removals are idempotent at the destination). Sends are not idempotent, so
send mode writes an intent to the ledger *before* the request and settles any
intent left behind by asking the destination (reconcile) before anything for
that key may go out again; what cannot be settled is parked, never resent.

Public entry points: :func:`plan` (dry run: sends and commits nothing) and
:func:`run`.

Where each step lives: `syncs.plan` (what a run would do), `syncs.records` (plan
rows -> Records), `syncs.sending` (stream, batch, concurrent requests),
`syncs.runner` (write-ahead, settle and commit each batch, the verdict),
`syncs.reconcile` (lost send answers), `syncs.write_ahead` (a killed run's adds).
This module runs them in order, under the sync's lease.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from connectors.base import AuthError, Capabilities, Destination, DestinationStopped
from syncs import lease
from syncs import state as st
from syncs.config import SyncConfig, SyncConfigError
from syncs.erasure import erase_sent
from syncs.plan import Plan, destination_key, plan, stop_reason
from syncs.plan_table import diffed
from syncs.policies import PolicyTableMissing
from syncs.reconcile import reconcile
from syncs.run_result import RunResult
from syncs.runner import Runner
from syncs.sending import FAILING_BATCHES, Progress, apply_plan
from syncs.throttle import share_quota
from syncs.warehouse import Warehouse
from syncs.write_ahead import fold_pending, stale_pending

__all__ = [
    "FAILING_BATCHES",
    "Plan",
    "RunResult",
    "check_capabilities",
    "destination_key",
    "plan",
    "run",
    "stale_pending",
    "stop_reason",
]
log = logging.getLogger(__name__)


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


def _finish_at_destination(
    destination: Destination, result: RunResult, held_lease: lease.Lease
) -> None:
    """Let the destination publish what this run staged (see Destination.finish), only
    while this run still holds the sync's lease (a run that lost it must not publish
    over the run that took over). A run whose accepted batches were not published did
    not do its work, so it is not a success."""
    finish = getattr(destination, "finish", None)
    if finish is None:
        return
    try:
        held_lease.check()
        finish()
    except Exception as exc:  # noqa: BLE001 - recorded as the run's outcome, never raised over it
        log.warning(
            "sync %s: the destination could not finish run %s: %s", result.sync, result.run_id, exc
        )
        if result.status in ("success", "partial", "running"):
            result.status = "failed"
            result.error = (
                f"the destination could not publish this run ({type(exc).__name__}: {exc}); "
                "what it accepted is kept and published by the sync's next run"
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
        started_at=st.utc_now(),
        destination_key=dkey,
        target=str(getattr(destination, "target_label", "") or ""),
    )
    check_capabilities(sync, caps)
    # Every request of this run (reconcile, erasure, sends) waits on its quota's Retry-After.
    share_quota(destination, dkey, caps.max_requests_per_second, caps.max_concurrency)
    st.ensure_state(wh)
    try:
        held_lease = lease.acquire(wh, sync.name, result.run_id, st.RUNS, ttl=lease_ttl)
    except lease.SyncBusy as exc:
        result.status, result.error = "busy", str(exc)
        result.finished_at = st.utc_now()
        result.duration_s = time.perf_counter() - clock
        return result
    runner = Runner(sync, wh, destination, result, dkey, held_lease)
    try:
        _insert_run(wh, sync, result)
        with wh.transaction():
            st.adopt_legacy_rows(wh, sync.name, dkey)
        fold_pending(wh, sync, result.run_id, dkey)
        erasures = 0
        if sync.mode == "send":
            reconcile(runner)
            erasures = erase_sent(runner)
        # The diff runs once: counted from its materialized rows, then completed into the
        # plan table that is sent (syncs.plan_table).
        with diffed(sync, wh, result.run_id, dkey, caps, result.target) as diff:
            p = diff.plan
            result.planned = dict(p.counts)
            if sync.mode == "send":
                # Done above, before the plan (which counts only what is left: failed deletes).
                result.planned["erase"] = erasures
            result.suppressed = dict(p.suppressed)
            if p.duplicate_keys:
                raise ValueError(
                    f"audience {sync.relation} has {p.duplicate_keys} duplicate {sync.key} values"
                )
            if p.stop_reason and not confirm:
                result.status, result.error = "needs_confirmation", p.stop_reason
                return result
            diff.refresh_fingerprints()
            if p.work:
                table = diff.changes()
                with wh.deferred_checkpoints():
                    apply_plan(runner, table, progress, stream_rows)
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
        interrupted = None
        try:
            _finish_at_destination(destination, result, held_lease)
        except BaseException as exc:  # a signal mid-publish: record the run, release, re-raise
            result.status, result.error = "crashed", f"{type(exc).__name__}: {exc}"
            interrupted = exc
        result.finished_at = st.utc_now()
        result.duration_s = time.perf_counter() - clock
        for step in (lambda: _finish_run(wh, result), held_lease.release):
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - never mask the run's own outcome
                log.warning(
                    "sync %s: could not record the end of run %s: %s", sync.name, result.run_id, exc
                )
        if interrupted is not None:
            raise interrupted
    return result
