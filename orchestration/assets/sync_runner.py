"""The one place Dagster (and `ferry demo`) call the sync engine.

Why an adapter: the engine (``syncs/``) imports no Dagster; this module turns
its plan/run results into one flat ``SyncReport`` that the sync assets, the
plan job and the demo summary all print the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SyncReport:
    sync: str
    status: str = "ok"  # ok | dry_run | needs_confirmation | failed
    audience_size: int = 0
    adds: int = 0
    updates: int = 0
    removes: int = 0
    unchanged: int = 0
    sent: int = 0
    failed: int = 0
    parked: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    match_rate: float | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)  # already masked
    message: str = ""
    run_id: Any = None
    retryable: bool = False
    target: str = ""  # `sandbox` or the tool's host
    destination_identity: str = ""  # where the records land (type, account, list); no secrets

    @property
    def needs_attention(self) -> bool:
        return self.status in ("needs_confirmation", "failed")

    def sample_markdown(self, limit: int = 10) -> str:
        rows = self.sample[:limit]
        if not rows:
            return "_no changes_"
        columns = list(rows[0].keys())
        head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        body = "\n".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows)
        return head + body


_STATUS = {"success": "ok", "partial": "partial"}


def _sample_rows(plan: Any) -> list[dict[str, Any]]:
    """Flatten the engine's masked sample ({key, operation, payload}) into table rows."""
    rows = []
    for item in plan.sample:
        rows.append({"key": item["key"], "operation": item["operation"], **dict(item.get("payload") or {})})
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


def plan_report(plan: Any) -> SyncReport:
    counts = dict(plan.counts)
    return SyncReport(
        sync=plan.sync,
        status="dry_run",
        audience_size=plan.audience_size,
        adds=counts.get("add", 0) + counts.get("send", 0),
        updates=counts.get("update", 0),
        removes=counts.get("remove", 0) + counts.get("delete", 0),
        unchanged=counts.get("unchanged", 0),
        parked=counts.get("parked", 0),
        suppressed=dict(plan.suppressed),
        sample=_sample_rows(plan),
        message=plan.stop_reason or "",
    )


def run_sync(conn: Any, sync: Any, *, dry_run: bool, confirm: bool = False, log: Any = None) -> SyncReport:
    """Plan (dry run) or run one sync with the engine, on an open warehouse connection.

    A dry run only plans: nothing is sent and nothing is committed. A real run
    plans once for the masked sample and the audience size, then lets the
    engine plan again inside the run (it may have reconciled in-doubt sends).
    """
    from syncs import engine
    from syncs.registry import build_destination

    destination = build_destination(sync.destination, sync=sync)
    report_target = str(getattr(destination, "target_label", None) or sync.destination.type)
    if log:
        log.info(f"{sync.name}: {sync.destination_name} at {report_target}")
    plan = engine.plan(sync, conn, sample_size=10, destination=destination)
    report = plan_report(plan)
    report.target = report_target
    report.destination_identity = str(getattr(destination, "destination_identity", "") or "")
    if dry_run:
        return report
    result = engine.run(sync, conn, destination, confirm=confirm)
    planned = dict(result.planned or plan.counts)
    report.status = _STATUS.get(result.status, result.status)
    report.adds = planned.get("add", 0) + planned.get("send", 0)
    report.updates = planned.get("update", 0)
    report.removes = planned.get("remove", 0) + planned.get("delete", 0)
    report.unchanged = planned.get("unchanged", 0)
    report.suppressed = dict(result.suppressed)
    report.sent, report.failed, report.parked = result.sent, result.failed, result.parked
    report.run_id = result.run_id
    report.message = result.error or ""
    if result.status == "needs_confirmation":
        report.message = (
            f"waiting for confirmation: {result.error}. Once understood, materialize again with "
            "config `confirm: true`."
        )
    report.retryable = result.status in ("crashed",)
    if result.status in ("auth_failed", "crashed"):
        report.status = "failed"
    if report.status in ("ok", "partial"):
        report.match_rate = _match_rate(destination, plan.eligible, log)
    return report
