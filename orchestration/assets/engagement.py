"""Engagement pull assets: what the tools say happened, landed in ``raw.<tool>_<entity>``.

One multi-asset per tool that has an engagement source (SendGrid, Twilio), and
one asset per ad platform (Meta, Google Ads) recording the audience sizes they
report (the only engagement they give back: no per-person matches), in group
``engagement``, whose keys (``raw/sendgrid_events``, ...) are the dbt
sources the reporting, engagement-score and suppression models read. Pulls are
incremental from a cursor and idempotent (``connectors.engagement_store``).

The assets only pull, through the connectors' public engagement interfaces;
webhook events (SendGrid's event webhook, Twilio's status callbacks) arrive
through the receivers (``connectors.receivers``), which run as their own
service. On the embedded default the sandboxes have no recipients to engage:
``ferry demo`` and the tests run ``connectors.sandbox_engagement`` (seeded)
between the syncs and this pull; no asset here drives a sandbox.
"""

import datetime as dt
from typing import Any

import duckdb
import requests
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    asset,
    multi_asset,
)

from connectors.base import DestinationError
from orchestration.assets.catalog import load_sync_configs

GROUP = "engagement"


def _destinations_of_type(kind: str) -> list[tuple[str, Any]]:
    """Distinct (name, destination spec) of one connector type used by any sync."""
    seen: dict[str, Any] = {}
    for sync in load_sync_configs():
        if sync.destination.type == kind:
            seen.setdefault(sync.destination_name, sync.destination)
    return list(seen.items())


def _raw_spec(table: str, kind: str, description: str) -> AssetSpec:
    """The spec of one raw engagement table (the dbt source of that name reads it)."""
    return AssetSpec(
        AssetKey(["raw", table]), group_name=GROUP, kinds={kind}, description=description
    )


def _count(store: Any, table: str) -> int:
    try:
        return store.count(table)
    except Exception:  # noqa: BLE001 - a missing table (or a closed store) counts as empty
        return 0


def _pull_sendgrid(context: AssetExecutionContext) -> dict[str, Any]:
    from connectors.engagement_store import EngagementStore
    from connectors.sendgrid.engagement import pull_suppressions
    from syncs.registry import build_destination

    store = EngagementStore(context.resources.warehouse.duckdb_path)
    store.ensure()
    before = {t: _count(store, t) for t in ("sendgrid_events", "sendgrid_suppressions")}
    pulled: dict[str, int] = {}
    hosts: set[str] = set()
    for _, spec in _destinations_of_type("sendgrid"):
        destination = build_destination(spec)
        if destination.host in hosts:
            continue  # two destinations on one account: pull once
        hosts.add(destination.host)
        for kind, n in pull_suppressions(destination.client, store).items():
            pulled[kind] = pulled.get(kind, 0) + n
    store.close()
    after = {t: _count(store, t) for t in before}
    return {"before": before, "after": after, "pulled": pulled}


@multi_asset(
    name="pull_sendgrid_engagement",
    specs=[
        _raw_spec(
            "sendgrid_events",
            "sendgrid",
            "Email events (delivered, open, click, bounce, unsubscribe, spam report) "
            "received through SendGrid's signed event webhook.",
        ),
        _raw_spec(
            "sendgrid_suppressions",
            "sendgrid",
            "SendGrid's suppression lists (unsubscribes, bounces, spam reports, invalid "
            "emails, blocks), pulled incrementally; they feed customer_suppressions.",
        ),
    ],
    required_resource_keys={"warehouse"},
    pool="warehouse",
)
def pull_sendgrid_engagement(context: AssetExecutionContext):
    """Pull SendGrid engagement back into the warehouse."""
    out = _pull_sendgrid(context)
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "sendgrid_events"]),
        metadata={
            "rows_total": out["after"]["sendgrid_events"],
            "new_rows": out["after"]["sendgrid_events"] - out["before"]["sendgrid_events"],
        },
    )
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "sendgrid_suppressions"]),
        metadata={
            "rows_total": out["after"]["sendgrid_suppressions"],
            **{f"new_{k}": v for k, v in sorted(out["pulled"].items())},
        },
    )


def _pull_twilio(context: AssetExecutionContext) -> dict[str, Any]:
    from connectors.engagement_store import EngagementStore
    from connectors.twilio.engagement import pull_messages
    from syncs.registry import build_destination

    store = EngagementStore(context.resources.warehouse.duckdb_path)
    store.ensure()
    before = {t: _count(store, t) for t in ("twilio_message_status", "twilio_opt_outs")}
    new = 0
    for _, spec in _destinations_of_type("twilio"):
        new += pull_messages(build_destination(spec), store)
    store.close()
    after = {t: _count(store, t) for t in before}
    return {"before": before, "after": after, "new": new}


@multi_asset(
    name="pull_twilio_engagement",
    specs=[
        _raw_spec(
            "twilio_message_status",
            "twilio",
            "SMS delivery statuses (sent, delivered, undelivered, failed), from status "
            "callbacks and the Messages list.",
        ),
        _raw_spec(
            "twilio_opt_outs",
            "twilio",
            "STOP/START replies and opted-out refusals (error 21610); they feed suppressions.",
        ),
    ],
    required_resource_keys={"warehouse"},
    pool="warehouse",
)
def pull_twilio_engagement(context: AssetExecutionContext):
    """Pull Twilio message statuses and opt-outs back into the warehouse."""
    out = _pull_twilio(context)
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "twilio_message_status"]),
        metadata={
            "rows_total": out["after"]["twilio_message_status"],
            "new_rows": out["new"],
        },
    )
    yield MaterializeResult(
        asset_key=AssetKey(["raw", "twilio_opt_outs"]),
        metadata={
            "rows_total": out["after"]["twilio_opt_outs"],
            "new_rows": out["after"]["twilio_opt_outs"] - out["before"]["twilio_opt_outs"],
        },
    )


def _uploaded(conn: Any, destination_name: str) -> int | None:
    """People our side holds at the destination (sync state of every sync to it): the match rate's base."""
    from syncs.state import STATE

    names = [s.name for s in load_sync_configs() if s.destination_name == destination_name]
    try:
        placeholders = ", ".join("?" for _ in names)
        found = conn.execute(
            f"select count(*) from {STATE} where sync_name in ({placeholders})", names
        ).fetchone()
    except duckdb.CatalogException:  # no sync has run yet
        return None
    return int(found[0]) or None


def upsert_arrow(
    conn: Any, table: str, ddl: str, rows: list[dict[str, Any]], key: tuple[str, ...]
) -> int:
    """Land ``rows`` in ``raw.<table>`` as one Arrow bulk insert; a row whose key exists replaces it.

    Why Arrow: one statement for the whole pull, typed columns, no per-row round
    trip. ``uploaded``/``match_rate`` keep their earlier value when this pull has none.
    """
    import pyarrow as pa

    if not rows:
        return 0
    conn.execute("create schema if not exists raw")
    conn.execute(ddl)
    incoming = pa.Table.from_pylist(rows)
    conn.register("ferry_incoming_sizes", incoming)
    try:
        keep = {"uploaded", "match_rate"}
        updates = ", ".join(
            f"{c} = coalesce(excluded.{c}, {c})" if c in keep else f"{c} = excluded.{c}"
            for c in incoming.column_names
            if c not in key
        )
        columns = ", ".join(incoming.column_names)
        conn.execute(
            f"insert into raw.{table} ({columns}) select {columns} from ferry_incoming_sizes "
            f"on conflict ({', '.join(key)}) do update set {updates}"
        )
    finally:
        conn.unregister("ferry_incoming_sizes")
    return len(rows)


def _meta_size_row(destination: Any) -> dict[str, Any]:
    size = destination.pull_audience_size()
    pulled = dt.datetime.fromtimestamp(size.pulled_at, dt.UTC).replace(tzinfo=None)
    return {
        "audience_id": size.audience_id,
        "snapshot_date": pulled.date(),
        "lower_bound": size.lower_bound,
        "upper_bound": size.upper_bound,
        "operation_status": size.operation_status,
        "operation_description": size.operation_description,
        "pulled_at": pulled,
    }


def _google_ads_size_row(destination: Any) -> dict[str, Any]:
    sizes = destination.user_list_size()
    pulled = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return {
        "user_list": destination.user_list,
        "snapshot_date": pulled.date(),
        "size_for_display": sizes["sizeForDisplay"],
        "size_for_search": sizes["sizeForSearch"],
        "pulled_at": pulled,
    }


# kind -> (connector engagement module, primary key, reported size column, row reader)
_AD_SIZES: dict[str, tuple[str, tuple[str, ...], str, Any]] = {
    "meta": (
        "connectors.meta.engagement",
        ("audience_id", "snapshot_date"),
        "lower_bound",
        _meta_size_row,
    ),
    "google_ads": (
        "connectors.google_ads.engagement",
        ("user_list", "snapshot_date"),
        "size_for_display",
        _google_ads_size_row,
    ),
}


def _land_ad_sizes(context: AssetExecutionContext, kind: str) -> MaterializeResult:
    """Read every destination's reported size, add what we uploaded and the match rate, land them at once.

    The table (DDL and name) is the connector's, so `connectors.<tool>.engagement`
    and this asset write the same snapshot rows.
    """
    import importlib

    from syncs.registry import build_destination

    module_name, key, size_column, read = _AD_SIZES[kind]
    module = importlib.import_module(module_name)
    rows: list[dict[str, Any]] = []
    with context.resources.warehouse.connect() as conn:
        for name, spec in _destinations_of_type(kind):
            try:
                row = read(build_destination(spec))
            except (
                DestinationError,
                requests.RequestException,
            ) as exc:  # one must not hide the others
                context.log.warning(
                    f"{name}: could not read the audience size ({type(exc).__name__})"
                )
                continue
            uploaded = _uploaded(conn, name)
            reported = row[size_column]
            row["uploaded"] = uploaded
            # Meta's lower bound is never an overstatement; -1 means "not reported".
            row["match_rate"] = (
                min(1.0, reported / uploaded) if uploaded and reported >= 0 else None
            )
            rows.append(row)
        landed = upsert_arrow(conn, module.TABLE, module.DDL, rows, key)
    return MaterializeResult(metadata=_size_metadata(landed, rows, size_column))


def _ad_size_asset(kind: str, table: str, description: str):
    """One engagement asset per ad platform: its reported sizes land in ``raw.<table>``."""

    @asset(
        key=AssetKey(["raw", table]),
        group_name=GROUP,
        kinds={kind},
        description=description,
        required_resource_keys={"warehouse"},
        pool="warehouse",
    )
    def _pull(context: AssetExecutionContext) -> MaterializeResult:
        return _land_ad_sizes(context, kind)

    return _pull


pull_meta_audience_sizes = _ad_size_asset(
    "meta",
    "meta_audience_sizes",
    "Meta custom audiences' approximate sizes, one row per audience and day, with the number of people "
    "Ferry uploaded and the resulting match rate (lower bound: never overstated).",
)
pull_google_ads_user_list_sizes = _ad_size_asset(
    "google_ads",
    "google_ads_user_list_sizes",
    "Google Ads Customer Match lists' estimated sizes (display, search), one row per list and day, with "
    "the number of people Ferry uploaded and the display match rate.",
)


def _size_metadata(landed: int, rows: list[dict[str, Any]], size_column: str) -> dict[str, Any]:
    """Totals a marketer can plot over runs; the match rate only when every row has one."""
    meta: dict[str, Any] = {
        "audiences": landed,
        "reported_size": sum(int(r[size_column] or 0) for r in rows),
    }
    uploaded = sum(r["uploaded"] or 0 for r in rows)
    if uploaded:
        meta["uploaded"] = uploaded
        meta["match_rate"] = round(min(1.0, meta["reported_size"] / uploaded), 4)
    return meta


def build_engagement_assets() -> list:
    """Engagement assets for the tools some sync actually uses."""
    kinds = {s.destination.type for s in load_sync_configs()}
    out = []
    if "sendgrid" in kinds:
        out.append(pull_sendgrid_engagement)
    if "twilio" in kinds:
        out.append(pull_twilio_engagement)
    if "meta" in kinds:
        out.append(pull_meta_audience_sizes)
    if "google_ads" in kinds:
        out.append(pull_google_ads_user_list_sizes)
    return out
