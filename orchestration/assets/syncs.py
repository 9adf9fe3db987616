"""One sync asset per (audience, destination), generated from the dbt manifest.

Adding an audience or a destination in YAML adds its asset, its gate, its
schedule and its sensor; nothing here lists audiences by hand. Each asset is
gated by the audience's Great Expectations suite, then runs the sync engine,
and records what happened as metadata so the UI plots it over runs.
"""

import time
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    asset,
)

from connectors.base import MissingCredentials
from orchestration.assets.catalog import Audience, load_audiences
from orchestration.assets.sync_runner import SyncReport, run_sync
from orchestration.checks.audiences import (
    evaluate_audience,
    gate_metadata,
    previous_synced_size,
    sync_asset_key,
)
from syncs.config import SyncConfigError
from syncs.registry import DestinationUnavailable

DESTINATION_TAG = "ferry/destination"
SYNC_TAG = "ferry/sync"

_MODE_WORDS = {
    "upsert": "adds new members and updates changed ones",
    "mirror": "keeps the destination list identical to the audience (adds, updates and removes those who left)",
    "insert": "adds new members only",
    "send": "sends one message to each member entering the audience, exactly once",
    "delete": "erases these people at the destination",
}


class SyncRunConfig(Config):
    """Launchpad options of a sync run."""

    # Let a run go ahead that the engine stopped for a human: removals over
    # max_removal_share, an empty audience, or fewer members than the destination's floor.
    confirm: bool = False


def sync_group(sync: Any) -> str:
    """Group sync assets by destination, the way a marketer looks for them ('sync_to_sendgrid_marketing')."""
    return f"sync_to_{sync.destination_name}"


def sync_pool(sync: Any) -> str:
    """Concurrency pool per destination (limits set in dagster.yaml)."""
    return f"destination_{sync.destination_name}"


def describe_sync(audience: Audience, sync: Any) -> str:
    lines = [
        f"**{audience.title}** to **{sync.destination_name}** ({sync.destination.type}), mode `{sync.mode}`: "
        f"{_MODE_WORDS.get(sync.mode, sync.mode)}.",
        "",
        audience.description or f"Members of dbt model `{audience.name}`.",
        "",
        f"- Identifiers: {', '.join(f'{k} <- {v}' for k, v in sync.identifiers.items())}",
    ]
    if sync.fields:
        lines.append(f"- Fields: {', '.join(f'{k} <- {v.column}' for k, v in sync.fields.items())}")
    lines.append(f"- Consent channel: {audience.channel}")
    lines.append(f"- Schedule: `{sync.schedule}`" if sync.schedule else "- Schedule: on demand / when the audience is rebuilt")
    lines.append("- Gated by the audience's checks: no duplicate keys, size change within bound, consent.")
    return "\n".join(lines)


def report_metadata(report: SyncReport, duration_s: float) -> dict[str, Any]:
    """Sync results as Dagster metadata; numbers are plotted over runs by the UI."""
    meta: dict[str, Any] = {
        "audience_size": report.audience_size,
        "planned_adds": report.adds,
        "planned_updates": report.updates,
        "planned_removes": report.removes,
        "unchanged": report.unchanged,
        "sent": report.sent,
        "failed": report.failed,
        "parked": report.parked,
        "suppressed_total": sum(report.suppressed.values()),
        "duration_seconds": round(duration_s, 3),
        "status": report.status,
        "target": report.target,  # `sandbox` or the tool's host
    }
    if report.destination_identity:
        meta["destination_identity"] = report.destination_identity
    # The engine's reasons may carry their own "suppressed_" prefix (suppressed_invalid).
    reasons = {r.removeprefix("suppressed_"): c for r, c in sorted(report.suppressed.items())}
    for reason, count in reasons.items():
        meta[f"suppressed_{reason}"] = count
    if reasons:
        meta["suppressed_by_reason"] = MetadataValue.md(
            "| reason | members |\n|---|---|\n" + "\n".join(f"| {r} | {c} |" for r, c in reasons.items())
        )
    if report.match_rate is not None:
        meta["match_rate"] = float(report.match_rate)
    if report.sample:
        meta["sample"] = MetadataValue.md(report.sample_markdown())
    if report.message:
        meta["message"] = report.message
    if report.run_id:
        meta["sync_run_id"] = str(report.run_id)
    return meta


def build_sync_asset(audience: Audience, sync: Any) -> AssetsDefinition:
    @asset(
        key=sync_asset_key(sync),
        deps=[audience.asset_key],
        group_name=sync_group(sync),
        description=describe_sync(audience, sync),
        kinds={sync.destination.type},
        tags={DESTINATION_TAG: sync.destination_name, "ferry/mode": sync.mode},
        op_tags={DESTINATION_TAG: sync.destination_name, SYNC_TAG: sync.name},
        metadata={
            "audience": audience.name,
            "destination": sync.destination_name,
            "destination_type": sync.destination.type,
            "mode": sync.mode,
            "schedule": sync.schedule or "none",
        },
        pool=sync_pool(sync),
        retry_policy=RetryPolicy(max_retries=2, delay=5, backoff=Backoff.EXPONENTIAL),
        required_resource_keys={"warehouse"},
    )
    def _sync(context: AssetExecutionContext, config: SyncRunConfig) -> MaterializeResult:
        started = time.monotonic()
        with context.resources.warehouse.connect() as conn:
            gate = evaluate_audience(conn, audience, previous_synced_size(context.instance, audience))
            if not gate.passed:
                # Nothing leaves the warehouse; retrying cannot fix a failed gate.
                raise Failure(
                    description=(
                        f"Sync {sync.name} stopped before sending: audience {audience.name} failed its "
                        "checks: " + "; ".join(gate.reasons)
                    ),
                    metadata=gate_metadata(gate),
                    allow_retries=False,
                )
            try:
                report = run_sync(conn, sync, dry_run=False, confirm=config.confirm, log=context.log)
            except (SyncConfigError, DestinationUnavailable, MissingCredentials) as exc:
                # A declaration problem: retrying cannot help, a human must fix the YAML.
                raise Failure(description=f"Sync {sync.name} cannot run: {exc}", allow_retries=False) from exc
        duration = time.monotonic() - started
        if report.needs_attention:
            raise Failure(
                description=f"Sync {sync.name}: {report.message}",
                metadata=report_metadata(report, duration),
                allow_retries=report.retryable,
            )
        context.log.info(
            f"{sync.name} -> {report.target}: {report.sent} sent, {report.failed} failed, "
            f"{sum(report.suppressed.values())} suppressed"
        )
        return MaterializeResult(metadata=report_metadata(report, duration))

    return _sync


def build_sync_assets() -> list[AssetsDefinition]:
    return [build_sync_asset(a, s) for a in load_audiences() for s in a.syncs]


def sync_keys_by_audience() -> dict[AssetKey, list[AssetKey]]:
    return {a.asset_key: [sync_asset_key(s) for s in a.syncs] for a in load_audiences()}
