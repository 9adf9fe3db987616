"""The one place Dagster (and `ferry demo`) call the sync engine.

Why an adapter: the engine (``syncs/``) imports no Dagster; this module turns
its plan/run results into one flat ``SyncReport`` that the sync assets, the
preview check and the demo summary all print the same way, in the words a
marketer uses (members, added, removed, sent) and with the reason a run did
not finish in plain words (``SyncReport.reason``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Engine statuses (syncs.engine.RunResult.status) and what each means to a marketer.
# Anything not "success" is a failure in the UI: a run that left work undone never shows green.
RETRYABLE_STATUSES = ("crashed", "busy")


@dataclass
class SyncReport:
    sync: str
    destination: str = ""
    status: str = "preview"  # preview | the engine's RunResult.status
    audience_size: int = 0
    adds: int = 0  # planned (messages to send included)
    sendable_adds: int = 0  # planned messages (send mode)
    updates: int = 0
    removes: int = 0
    unchanged: int = 0
    added: int = 0  # accepted by the destination this run, per operation
    updated: int = 0
    removed: int = 0
    messages_sent: int = 0
    failed: int = 0
    parked: int = 0
    pending: int = 0
    in_doubt: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    match_rate: float | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)  # already masked
    undone: list[dict[str, Any]] = field(default_factory=list)  # records left undone (keys are opaque ids)
    errors: dict[str, int] = field(default_factory=dict)  # error -> records, most frequent first
    message: str = ""  # the engine's one-line error or stop reason
    run_id: Any = None
    target: str = ""  # `sandbox` or the tool's host
    destination_identity: str = ""  # where the records land (type, account, list); no secrets

    @property
    def succeeded(self) -> bool:
        return self.status == "success"

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES

    @property
    def reason(self) -> str:
        """Why this run is not a success, in plain words ('' when it is one)."""
        return failure_reason(self)

    def sample_markdown(self, limit: int = 10) -> str:
        return rows_markdown(self.sample[:limit], empty="_no changes_")


def rows_markdown(rows: list[dict[str, Any]], empty: str = "_none_") -> str:
    if not rows:
        return empty
    columns = list(dict.fromkeys(c for r in rows for c in r))
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "\n".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows)
    return head + body


def _top_error(report: SyncReport) -> str:
    return next(iter(report.errors), "") or report.message


# The first words of a safety stop's reason: the demo and the checks recognise a run held
# for a person's confirmation (by design) by them.
WAITING_FOR_CONFIRMATION = "Stopped before sending anything"


def failure_reason(r: SyncReport) -> str:
    """One paragraph a marketer can act on; the first line says what happened."""
    if r.status in ("success", "preview"):
        return ""
    dest = r.destination or "the destination"
    if r.status == "needs_confirmation":
        return (
            f"{WAITING_FOR_CONFIRMATION}: {r.message}. Nothing was changed at {dest}. "
            "If this is expected, confirm it: launch the sync's confirm job (one click, see 'confirm')."
        )
    if r.status == "busy":
        return f"Not run: another run of this sync is still going ({r.message or 'it holds the lease'}). Nothing was sent."
    if r.status == "auth_failed":
        return f"{dest} refused Ferry's credentials ({r.message}); the run stopped. Fix the API key, then sync again."
    progressed = r.pending or r.failed or r.in_doubt or r.added or r.updated or r.removed or r.messages_sent
    if r.status == "failed" and not progressed:
        return f"Could not run: {r.message}. Nothing was sent."
    if r.status == "crashed":
        return f"The run broke off ({r.message}). What was sent is recorded; the next run picks up the rest."
    parts = []
    if r.pending:
        parts.append(f"{r.pending} not delivered: {dest} could not be reached ({_top_error(r)}); they are retried next run")
    if r.failed:
        parts.append(f"{r.failed} rejected by {dest} ({_top_error(r)}); retried next run")
    if r.parked:
        parts.append(f"{r.parked} parked for review (rejected too often, or opted out at {dest})")
    if r.in_doubt:
        parts.append(f"{r.in_doubt} messages may or may not have arrived; checked with {dest} before any resend")
    head = "Not finished: " + "; ".join(parts) if parts else f"Not finished ({r.status}): {r.message}"
    done = f"Done: {r.added} added, {r.updated} updated, {r.removed} removed, {r.messages_sent} sent."
    stopped = f" The run stopped: {r.message}." if r.status == "failed" and r.message else ""
    return f"{head}. {done}{stopped}"


def _sample_rows(plan: Any) -> list[dict[str, Any]]:
    """Flatten the engine's masked sample ({key, operation, payload}) into table rows."""
    words = {"add": "added", "upsert": "added or updated", "update": "updated", "remove": "removed", "send": "sent", "delete": "erased"}
    rows = []
    for item in plan.sample:
        change = words.get(item["operation"], item["operation"])
        rows.append({"member": item["key"], "would be": change, **dict(item.get("payload") or {})})
    return rows


def _match_rate(destination: Any, uploaded: int, log: Any) -> float | None:
    """Destinations that report one (Meta's approximate size) give a match rate."""
    pull = getattr(destination, "pull_audience_size", None)
    if not callable(pull) or uploaded <= 0:
        return None
    try:
        return pull().match_rate(uploaded)
    except Exception as exc:  # a size read must never fail the sync that already happened
        if log:
            log.warning(f"could not read the audience size back: {type(exc).__name__}")
        return None


def _set_planned(report: SyncReport, counts: dict[str, int]) -> None:
    report.sendable_adds = counts.get("send", 0)
    report.adds = counts.get("add", 0) + counts.get("send", 0)
    report.updates = counts.get("update", 0)
    report.removes = counts.get("remove", 0) + counts.get("delete", 0)
    report.unchanged = counts.get("unchanged", 0)


def plan_report(plan: Any, destination: str = "") -> SyncReport:
    report = SyncReport(
        sync=plan.sync,
        destination=destination,
        audience_size=plan.audience_size,
        parked=dict(plan.counts).get("parked", 0),
        suppressed=dict(plan.suppressed),
        sample=_sample_rows(plan),
        message=plan.stop_reason or "",
    )
    _set_planned(report, dict(plan.counts))
    return report


def _apply_records(report: SyncReport, records: dict[str, Any]) -> None:
    """Split what the destination accepted by operation, and keep the records left undone.

    The engine records adds and updates both as `upsert`: when every planned one
    was accepted the plan's split is exact; otherwise they are counted as added.
    """
    accepted = {op: n for (op, status), n in records["counts"].items() if status == "accepted"}
    upserts = accepted.get("upsert", 0) + accepted.get("add", 0) + accepted.get("update", 0)
    if upserts == report.adds + report.updates - report.sendable_adds:
        report.added, report.updated = report.adds - report.sendable_adds, report.updates
    else:
        report.added, report.updated = upserts, 0
    report.removed = accepted.get("remove", 0) + accepted.get("delete", 0)
    report.messages_sent = accepted.get("send", 0)
    report.undone = records["undone"]
    report.errors = records["errors"]


def run_sync(conn: Any, sync: Any, *, dry_run: bool, confirm: bool = False, log: Any = None) -> SyncReport:
    """Plan (preview) or run one sync with the engine, on an open warehouse connection.

    A preview only plans: nothing is sent and nothing is committed. A real run
    plans once for the masked sample and the audience size, then lets the
    engine plan again inside the run (it may have reconciled in-doubt sends).
    """
    from syncs import engine
    from syncs.history import run_records
    from syncs.registry import build_destination

    destination = build_destination(sync.destination, sync=sync)
    report_target = str(getattr(destination, "target_label", None) or sync.destination.type)
    if log:
        log.info(f"{sync.name}: {sync.destination_name} at {report_target}")
    plan = engine.plan(sync, conn, sample_size=10, destination=destination)
    report = plan_report(plan, sync.destination_name)
    report.target = report_target
    report.destination_identity = str(getattr(destination, "destination_identity", "") or "")
    if dry_run:
        return report
    result = engine.run(sync, conn, destination, confirm=confirm)
    _set_planned(report, dict(result.planned or plan.counts))
    report.status = result.status
    report.suppressed = dict(result.suppressed)
    report.failed, report.parked = result.failed, result.parked
    report.pending = getattr(result, "pending", 0)
    report.in_doubt = getattr(result, "in_doubt", 0)
    report.run_id = result.run_id
    report.message = result.error or ""
    _apply_records(report, run_records(conn, result.run_id))
    if report.status in ("success", "partial", "needs_attention"):
        report.match_rate = _match_rate(destination, plan.eligible, log)
    return report
