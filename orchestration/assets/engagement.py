"""Engagement pull assets: what the tools say happened, landed in ``raw.<tool>_<entity>``.

One multi-asset per tool that has an engagement source (SendGrid, Twilio), in
group ``engagement``, whose keys (``raw/sendgrid_events``, ...) are the dbt
sources the reporting, engagement-score and suppression models read. Pulls are
incremental from a cursor and idempotent (``connectors.engagement_store``).

On the embedded default the destinations talk to in-process sandboxes: there
the asset first lets the sandbox "advance time" (deliveries, opens, clicks,
bounces, unsubscribes, STOP replies at the sandbox's configured rates),
delivered through the same signed webhooks a real vendor would post to a local
receiver, then pulls what the vendor offers a list API for. In production the
webhook receivers run as their own service and the asset only pulls.
"""

import time
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset

from orchestration.assets.catalog import load_sync_configs

GROUP = "engagement"


def _destinations_of_type(kind: str) -> list[Any]:
    """Distinct destination specs of one connector type used by any sync."""
    seen: dict[str, Any] = {}
    for sync in load_sync_configs():
        if sync.destination.type == kind:
            seen.setdefault(sync.destination_name, sync.destination)
    return list(seen.values())


def _count(store: Any, table: str) -> int:
    try:
        return store.count(table)
    except Exception:
        return 0


def _pull_sendgrid(context: AssetExecutionContext) -> dict[str, Any]:
    from connectors.engagement_store import EngagementStore, WsgiServer
    from connectors.sendgrid import sandbox as sg_sandbox
    from connectors.sendgrid.engagement import SendGridEventReceiver, pull_suppressions
    from syncs.registry import build_destination

    store = EngagementStore(context.resources.warehouse.duckdb_path)
    store.ensure()
    before = {t: _count(store, t) for t in ("sendgrid_events", "sendgrid_suppressions")}
    generated = 0
    pulled: dict[str, int] = {}
    hosts: set[str] = set()
    for spec in _destinations_of_type("sendgrid"):
        destination = build_destination(spec)
        if destination.host in hosts:
            continue  # two destinations on one account: pull once
        hosts.add(destination.host)
        local = sg_sandbox._LOCAL
        if local is not None and destination.host == local.base_url:
            receiver = WsgiServer(SendGridEventReceiver(store, local.public_key)).start()
            try:
                local.webhook_url = receiver.base_url + "/"
                generated += len(local.generate_engagement(seed=int(time.time())))
            finally:
                receiver.stop()
        for kind, n in pull_suppressions(destination.client, store).items():
            pulled[kind] = pulled.get(kind, 0) + n
    store.close()
    after = {t: _count(store, t) for t in before}
    return {"before": before, "after": after, "generated": generated, "pulled": pulled}


@multi_asset(
    name="pull_sendgrid_engagement",
    specs=[
        AssetSpec(AssetKey(["raw", "sendgrid_events"]), group_name=GROUP, kinds={"sendgrid"},
                  description="Email events (delivered, open, click, bounce, unsubscribe, spam report) "
                              "received through SendGrid's signed event webhook."),
        AssetSpec(AssetKey(["raw", "sendgrid_suppressions"]), group_name=GROUP, kinds={"sendgrid"},
                  description="SendGrid's suppression lists (unsubscribes, bounces, spam reports, invalid "
                              "emails, blocks), pulled incrementally; they feed customer_suppressions."),
    ],
    required_resource_keys={"warehouse"},
    pool="warehouse",
)
def pull_sendgrid_engagement(context: AssetExecutionContext):
    """Pull SendGrid engagement back into the warehouse."""
    out = _pull_sendgrid(context)
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "sendgrid_events"]),
        metadata={"rows_total": out["after"]["sendgrid_events"],
                  "new_rows": out["after"]["sendgrid_events"] - out["before"]["sendgrid_events"],
                  "sandbox_events_generated": out["generated"]},
    )
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "sendgrid_suppressions"]),
        metadata={"rows_total": out["after"]["sendgrid_suppressions"],
                  **{f"new_{k}": v for k, v in sorted(out["pulled"].items())}},
    )


def _pull_twilio(context: AssetExecutionContext) -> dict[str, Any]:
    from connectors.engagement_store import EngagementStore
    from connectors.twilio import sandbox as tw_sandbox
    from connectors.twilio.engagement import pull_messages
    from syncs.registry import build_destination

    store = EngagementStore(context.resources.warehouse.duckdb_path)
    store.ensure()
    before = {t: _count(store, t) for t in ("twilio_message_status", "twilio_opt_outs")}
    changes = 0
    new = 0
    for spec in _destinations_of_type("twilio"):
        destination = build_destination(spec)
        local = getattr(tw_sandbox, "_LOCAL", None)
        if local is not None and destination.is_sandbox and destination.base_url.startswith(local.base_url):
            # Final statuses for pending messages (and STOP replies) at the sandbox's rates.
            changes += len(local.advance(seed=int(time.time())))
        new += pull_messages(destination, store)
    store.close()
    after = {t: _count(store, t) for t in before}
    return {"before": before, "after": after, "changes": changes, "new": new}


@multi_asset(
    name="pull_twilio_engagement",
    specs=[
        AssetSpec(AssetKey(["raw", "twilio_message_status"]), group_name=GROUP, kinds={"twilio"},
                  description="SMS delivery statuses (sent, delivered, undelivered, failed), from status "
                              "callbacks and the Messages list."),
        AssetSpec(AssetKey(["raw", "twilio_opt_outs"]), group_name=GROUP, kinds={"twilio"},
                  description="STOP/START replies and opted-out refusals (error 21610); they feed suppressions."),
    ],
    required_resource_keys={"warehouse"},
    pool="warehouse",
)
def pull_twilio_engagement(context: AssetExecutionContext):
    """Pull Twilio message statuses and opt-outs back into the warehouse."""
    out = _pull_twilio(context)
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "twilio_message_status"]),
        metadata={"rows_total": out["after"]["twilio_message_status"], "new_rows": out["new"],
                  "sandbox_status_changes": out["changes"]},
    )
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "twilio_opt_outs"]),
        metadata={"rows_total": out["after"]["twilio_opt_outs"],
                  "new_rows": out["after"]["twilio_opt_outs"] - out["before"]["twilio_opt_outs"]},
    )


def build_engagement_assets() -> list:
    """Engagement assets for the tools some sync actually uses."""
    kinds = {s.destination.type for s in load_sync_configs()}
    out = []
    if "sendgrid" in kinds:
        out.append(pull_sendgrid_engagement)
    if "twilio" in kinds:
        out.append(pull_twilio_engagement)
    return out
