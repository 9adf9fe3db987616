"""One sync asset per (audience, destination), generated from the dbt manifest.

Adding an audience or a destination in YAML adds its asset, its gate, its
schedule, its preview and its confirm job; nothing here lists audiences by
hand. Each asset is gated by the audience's Great Expectations suite, then runs
the sync engine and records what happened as metadata (plotted over runs). Its
`sync_completed` check is red, with the reason in plain words, whenever the run
left anything undone (not delivered, rejected, parked, in doubt) or stopped:
the step fails too, so a run that did not finish never shows green.
"""

import os
import time
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    Backoff,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
    asset_check,
)

from connectors.base import MissingCredentials
from orchestration.assets.catalog import Audience, load_audiences
from orchestration.assets.marketer_words import MODE_SENTENCES, mode_label
from orchestration.assets.sync_runner import SyncReport, rows_markdown, run_sync
from orchestration.checks.audiences import (
    evaluate_audience,
    gate_metadata,
    previous_synced_size,
    sync_asset_key,
)
from orchestration.cron_words import cron_in_words
from syncs.config import SyncConfigError
from syncs.registry import DestinationUnavailable

DESTINATION_TAG = "ferry/destination"
SYNC_TAG = "ferry/sync"



class SyncRunConfig(Config):
    """Launchpad options of a sync run (the per-sync confirm job sets `confirm` for you)."""

    # Let a run go ahead that the engine stopped for a human: removals over
    # max_removal_share, an empty audience, or fewer members than the destination's floor.
    confirm: bool = False


SYNC_CHECK = "sync_completed"
PREVIEW_CHECK = "preview"
# Statuses where the engine stopped before changing anything: no materialization is recorded.
_NOTHING_DONE = ("needs_confirmation", "busy", "failed")


def sync_group(sync: Any) -> str:
    """Group sync assets by destination, the way a marketer looks for them ('sync_to_sendgrid_marketing')."""
    return f"sync_to_{sync.destination_name}"


def sync_pool(sync: Any) -> str:
    """Concurrency pool per destination (limits set in dagster.yaml)."""
    return f"destination_{sync.destination_name}"


def confirm_job_name(sync: Any) -> str:
    return f"confirm_{sync.name}"


def schedule_words(sync: Any) -> str:
    if not sync.schedule:
        return "when the audience is rebuilt, or on demand"
    return cron_in_words(sync.schedule, os.environ.get("FERRY_TIMEZONE", "UTC"))


_CONSENT_WORDS = {"email": "e-mail", "sms": "SMS", "ads": "ads", "none": "none (an internal notification)"}


def describe_sync(audience: Audience, sync: Any) -> str:
    lines = [
        (f"**{audience.title}** to **{sync.destination_name}** ({sync.destination.type}): "
         f"{MODE_SENTENCES.get(sync.mode, sync.mode)}."),
        "",
        ("**Sync now**: the Materialize button. **Preview** (sends nothing): Checks tab, "
         f"`{PREVIEW_CHECK}`, Execute. A stopped sync is confirmed with job `{confirm_job_name(sync)}`."),
        "",
        audience.description or f"Members of audience {audience.title}.",
        "",
        f"- Matched by: {', '.join(sync.identifiers)}",
    ]
    if sync.fields:
        lines.append(f"- Fields sent: {', '.join(sync.fields)}")
    lines.append(f"- Consent needed: {_CONSENT_WORDS.get(audience.channel, audience.channel)}")
    lines.append(f"- Runs: {schedule_words(sync)}")
    lines.append("- Checked before sending: no member twice, size change within bound, consent.")
    return "\n".join(lines)


def _reasons(report: SyncReport) -> dict[str, int]:
    # The engine's reasons may carry their own "suppressed_" prefix (suppressed_invalid).
    return {r.removeprefix("suppressed_"): c for r, c in sorted(report.suppressed.items())}


def suppressed_markdown(report: SyncReport) -> str:
    reasons = _reasons(report)
    if not reasons:
        return "_nobody held back_"
    return "| reason | members held back |\n|---|---|\n" + "\n".join(f"| {r} | {c} |" for r, c in reasons.items())


def plan_metadata(report: SyncReport) -> dict[str, Any]:
    """What a run would do (the preview), in a marketer's words; numbers plot over time."""
    meta: dict[str, Any] = {
        "members": report.audience_size,
        "to_add": report.adds,
        "to_update": report.updates,
        "to_remove": report.removes,
        "unchanged": report.unchanged,
        "held_back": sum(report.suppressed.values()),
        "held_back_by_reason": MetadataValue.md(suppressed_markdown(report)),
        "sample": MetadataValue.md(report.sample_markdown()),
    }
    for reason, count in _reasons(report).items():
        meta[f"held_back_{reason}"] = count
    if report.message:
        meta["would_stop"] = report.message
    return meta


def delivered_counts(report: SyncReport) -> dict[str, int]:
    """What reached the destination this run, and what did not, by outcome."""
    return {
        "added": report.added,
        "updated": report.updated,
        "removed": report.removed,
        "sent": report.messages_sent,
        "not_delivered": report.pending,
        "rejected": report.failed,
        "parked": report.parked,
    }


def report_metadata(report: SyncReport, duration_s: float) -> dict[str, Any]:
    """What a run did, in a marketer's words; numbers are plotted over runs by the UI."""
    meta: dict[str, Any] = {
        "members": report.audience_size,
        **delivered_counts(report),
        "in_doubt": report.in_doubt,
        "unchanged": report.unchanged,
        "held_back": sum(report.suppressed.values()),
        "held_back_by_reason": MetadataValue.md(suppressed_markdown(report)),
        "duration_seconds": round(duration_s, 3),
        "result": report.status,
        "target": report.target,  # `sandbox` or the tool's host
    }
    if report.destination_identity:
        meta["destination_identity"] = report.destination_identity
    for reason, count in _reasons(report).items():
        meta[f"held_back_{reason}"] = count
    if report.match_rate is not None:
        meta["match_rate"] = float(report.match_rate)
    if report.sample:
        meta["sample"] = MetadataValue.md(report.sample_markdown())
    if report.reason:
        meta["why"] = report.reason
    if report.run_id:
        meta["sync_run_id"] = str(report.run_id)
    return meta


def outcome_check(report: SyncReport, sync: Any) -> AssetCheckResult:
    """The red/green verdict on the asset page: passed only when every change was delivered."""
    metadata: dict[str, Any] = {"result": report.status, **delivered_counts(report)}
    if report.undone:
        metadata["members_left_undone"] = MetadataValue.md(rows_markdown(report.undone))
    if report.errors:
        metadata["errors"] = MetadataValue.md(
            "| error | members |\n|---|---|\n" + "\n".join(f"| {e} | {n} |" for e, n in report.errors.items())
        )
    if report.status == "needs_confirmation":
        metadata["confirm"] = f"launch job {confirm_job_name(sync)} (Jobs, {confirm_job_name(sync)}, Launch run)"
    description = report.reason or (
        f"Delivered: {report.added} added, {report.updated} updated, {report.removed} removed, "
        f"{report.messages_sent} sent."
    )
    return AssetCheckResult(
        asset_key=sync_asset_key(sync),
        check_name=SYNC_CHECK,
        passed=report.succeeded,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata=metadata,
    )


def _failed_check(key: AssetKey, why: str, metadata: dict[str, Any] | None = None) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=key, check_name=SYNC_CHECK, passed=False, severity=AssetCheckSeverity.ERROR,
        description=why, metadata=metadata or {},
    )


def build_sync_asset(audience: Audience, sync: Any) -> AssetsDefinition:
    key = sync_asset_key(sync)

    @asset(
        key=key,
        deps=[audience.asset_key],
        group_name=sync_group(sync),
        description=describe_sync(audience, sync),
        kinds={sync.destination.type},
        tags={DESTINATION_TAG: sync.destination_name, "ferry/mode": sync.mode},
        op_tags={DESTINATION_TAG: sync.destination_name, SYNC_TAG: sync.name},
        metadata={
            "audience": audience.title,
            "destination": sync.destination_name,
            "destination_type": sync.destination.type,
            "mode": mode_label(sync.mode),
            "runs": schedule_words(sync),
        },
        check_specs=[
            AssetCheckSpec(
                SYNC_CHECK,
                asset=key,
                description="Every change reached the destination; red with the reason when not.",
            )
        ],
        pool=sync_pool(sync),
        retry_policy=RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL),
        required_resource_keys={"warehouse"},
    )
    def _sync(context: AssetExecutionContext, config: SyncRunConfig):
        started = time.monotonic()
        with context.resources.warehouse.connect() as conn:
            gate = evaluate_audience(conn, audience, previous_synced_size(context.instance, audience))
            if not gate.passed:
                # Nothing leaves the warehouse; retrying cannot fix a failed gate.
                why = f"Stopped before sending: audience {audience.title} failed its checks: " + "; ".join(gate.reasons)
                yield _failed_check(key, why, gate_metadata(gate))
                raise Failure(description=why, metadata=gate_metadata(gate), allow_retries=False)
            try:
                report = run_sync(conn, sync, dry_run=False, confirm=config.confirm, log=context.log)
            except (SyncConfigError, DestinationUnavailable, MissingCredentials, ValueError) as exc:
                # A declaration problem: retrying cannot help, a human must fix the YAML or the settings.
                why = f"Cannot run: {exc}. Nothing was sent."
                yield _failed_check(key, why)
                raise Failure(description=why, allow_retries=False) from exc
            except Exception as exc:
                # The engine recorded the run as crashed; the retry policy may run it again.
                yield _failed_check(
                    key, f"The run broke off ({type(exc).__name__}: {exc}). What was sent is recorded; "
                    "the next run picks up the rest."
                )
                raise
        duration = time.monotonic() - started
        check = outcome_check(report, sync)
        if report.status in _NOTHING_DONE:
            yield check
        else:
            yield MaterializeResult(metadata=report_metadata(report, duration), check_results=[check])
        if not report.succeeded:
            # A failed step too, so the run is red in the runs list and alerts fire.
            raise Failure(description=report.reason, metadata={"result": report.status},
                          allow_retries=report.retryable)
        context.log.info(
            f"{sync.name} -> {report.target}: {report.added} added, {report.updated} updated, "
            f"{report.removed} removed, {report.messages_sent} sent, {sum(report.suppressed.values())} held back"
        )

    return _sync


def build_preview_check(sync: Any):
    """The one-click preview on the sync's asset page: Checks tab, `preview`, Execute.

    Why a check and not a job: a check is listed on the asset's own page with its
    Execute button, where a job would be one more page away. It sends nothing and
    commits nothing; it passes unless the run would stop for confirmation.
    """

    @asset_check(
        asset=sync_asset_key(sync),
        name=PREVIEW_CHECK,
        description="Preview (sends nothing): members to add, update and remove, held back by reason, masked sample.",
        required_resource_keys={"warehouse"},
        blocking=False,
    )
    def _preview(context: AssetCheckExecutionContext) -> AssetCheckResult:
        with context.resources.warehouse.connect() as conn:
            report = run_sync(conn, sync, dry_run=True, log=context.log)
        summary = (
            f"Would add {report.adds}, update {report.updates}, remove {report.removes} "
            f"({report.audience_size} members, {sum(report.suppressed.values())} held back)."
        )
        if report.message:
            summary = f"Would stop for confirmation: {report.message}. {summary}"
        return AssetCheckResult(
            passed=not report.message,
            severity=AssetCheckSeverity.WARN,
            description=summary,
            metadata=plan_metadata(report),
        )

    return _preview


def sync_selection(syncs: list[Any]) -> AssetSelection:
    """The sync assets of `syncs` with their outcome check, without the preview (it is run by hand)."""
    keys = [sync_asset_key(s) for s in syncs]
    previews = [AssetCheckKey(k, PREVIEW_CHECK) for k in keys]
    return AssetSelection.assets(*keys) - AssetSelection.checks(*previews)


def preview_check_keys() -> list[AssetCheckKey]:
    return [AssetCheckKey(sync_asset_key(s), PREVIEW_CHECK) for a in load_audiences() for s in a.syncs]


def build_sync_assets() -> list[AssetsDefinition]:
    return [build_sync_asset(a, s) for a in load_audiences() for s in a.syncs]


def build_preview_checks() -> list:
    return [build_preview_check(s) for a in load_audiences() for s in a.syncs]


def sync_keys_by_audience() -> dict[AssetKey, list[AssetKey]]:
    return {a.asset_key: [sync_asset_key(s) for s in a.syncs] for a in load_audiences()}
