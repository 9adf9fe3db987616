"""Why, per person: one row per (sync, member) saying what happened to them and why.

`reporting.sync_member_outcomes` answers "why did Anna not get the win-back
e-mail?" by profile id:

- ``held back``: the engine's own policies, judged now with the engine's own
  SQL (``syncs.policies.build_policy_sql``, the CASE the plan uses), so the
  reason is the one the next run applies: holdout, not on the test list,
  suppressed (unsubscribe, bounce...), erased, no consent, pressure cap; and
  the destination's own deferrals from the latest result (quiet hours in the
  recipient's time zone: ``connectors.base.DEFERRED``), retried next run;
- ``delivered`` / ``rejected`` / ``parked`` / ``not delivered`` / ``in doubt``:
  the latest per-record result of the sync (``ferry_sync.record_results``):
  delivered says what was done (added, updated, removed, sent, erased), the
  others the vendor's error code and message (or the transport error).

Why a Python asset and not a dbt model: the policies are the engine's SQL,
built per sync from its YAML (channel, pressure cap, holdout, test seeds);
writing them again in Jinja would be a second copy that drifts.
"""


import re
from collections.abc import Iterable
from typing import Any

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.assets.catalog import load_audiences
from orchestration.assets.sync_runner import rows_markdown
from orchestration.checks.audiences import sync_asset_key

TABLE = "reporting.sync_member_outcomes"
KEY = AssetKey(["reporting", "sync_member_outcomes"])
SAMPLE_PER_REASON = 5

# Engine reason codes -> the words on the asset page and in the table.
REASON_WORDS = {
    "holdout": "holdout group",
    "test_mode": "not on the test list",
    "no_consent": "no consent",
    "pressure_cap": "pressure cap",
    "suppressed_erasure": "erased",
}
# What a delivered record's plan operation was, in words (record_results.plan_operation;
# rows written before it existed have only the destination's operation).
DONE_WORDS = {
    "add": "added",
    "update": "updated",
    "upsert": "added or updated",
    "remove": "removed",
    "send": "sent",
    "delete": "erased at the destination",
    "erase": "erased at the destination",
}
_RESULT_WORDS = {
    "accepted": "delivered",
    "rejected": "rejected",
    "parked": "parked",
    "pending": "not delivered",
    "in_doubt": "in doubt",
}
COLUMNS = "sync_name, audience, destination, profile_id, record_key, outcome, reason, detail"


def _lit(value: str) -> str:
    from syncs.policies import lit

    return lit(value)


def _reason_words_sql(column: str) -> str:
    whens = " ".join(f"when {_lit(code)} then {_lit(words)}" for code, words in REASON_WORDS.items())
    return f"case {column} {whens} else replace({column}, 'suppressed_', 'suppressed: ') end"


def held_back_sql(sync: Any, wh: Any) -> str | None:
    """The audience's members the sync's policies hold back, with the engine's reason."""
    from syncs.policies import PolicyTableMissing, build_policy_sql

    columns = {c.lower() for c in wh.columns(sync.schema_name, sync.table)}
    has_variant = "variant" in columns
    try:
        policy = build_policy_sql(sync, wh, has_variant)
    except PolicyTableMissing:
        return None
    variant = "cast(variant as varchar)" if has_variant else "cast(null as varchar)"
    ctes = [
        (f"h as (select cast({sync.key} as varchar) as __key, cast(profile_id as varchar) as __profile, "
         f"{variant} as __variant from {sync.schema_name}.{sync.table})"),
        *policy.ctes,
    ]
    return (
        f"select * from (with {', '.join(ctes)}, judged as (select h.__key, h.__profile, {policy.reason} as reason "
        f"from h {policy.joins}) select {_lit(sync.name)} as sync_name, {_lit(sync.audience)} as audience, "
        f"{_lit(sync.destination_name)} as destination, __profile as profile_id, __key as record_key, "
        f"'held back' as outcome, {_reason_words_sql('reason')} as reason, cast(null as varchar) as detail "
        "from judged where reason is not null) held"
    )


def results_sql(sync: Any, has_plan_operation: bool = True) -> str:
    """The latest per-record result of the sync, tied back to the member's profile when still in the audience.

    A destination's deferral (quiet hours) is a hold, not a failure: ``held back`` with
    the words before the parenthesis as reason (``quiet hours``) and the whole text
    (window and time zone) as detail.
    """
    from connectors.base import DEFERRED
    from syncs import state as st

    status_words = " ".join(f"when {_lit(s)} then {_lit(w)}" for s, w in _RESULT_WORDS.items())
    done = "coalesce(plan_operation, operation)" if has_plan_operation else "operation"
    done_words = " ".join(f"when {_lit(o)} then {_lit(w)}" for o, w in DONE_WORDS.items())
    deferred = f"(l.status = 'pending' and l.error like {_lit(DEFERRED + '%')})"
    deferral = f"trim(split_part(substr(l.error, {len(DEFERRED) + 1}), '(', 1))"
    return (
        f"select * from (with latest as (select record_key, {done} as done, status, error, row_number() over "
        f"(partition by record_key order by recorded_at desc, run_id desc) as n from {st.RESULTS} "
        f"where sync_name = {_lit(sync.name)}) select {_lit(sync.name)} as sync_name, "
        f"{_lit(sync.audience)} as audience, {_lit(sync.destination_name)} as destination, "
        f"coalesce(cast(a.profile_id as varchar), case when {_lit(sync.key)} = 'profile_id' then l.record_key end) "
        f"as profile_id, l.record_key, case when {deferred} then 'held back' else "
        f"case l.status {status_words} else l.status end end as outcome, "
        f"case when {deferred} then {deferral} "
        f"when l.status = 'accepted' then case l.done {done_words} else l.done end "
        "else coalesce(l.error, l.status) end as reason, l.error as detail "
        f"from latest l left join {sync.schema_name}.{sync.table} a on cast(a.{sync.key} as varchar) = l.record_key "
        "where l.n = 1) results"
    )


def build_outcomes(conn: Any, log: Any = None, syncs: Iterable[Any] | None = None) -> dict[str, Any]:
    """(Re)write the table from the policies and the sync state; returns counts and a sample per reason.

    ``syncs``: the syncs to judge (default: every sync of the project's audiences).
    """
    from syncs import state as st
    from syncs.warehouse import Warehouse

    wh = Warehouse(conn)
    has_results = wh.table_exists(st.SCHEMA, "record_results")
    has_plan_operation = has_results and "plan_operation" in {
        c.lower() for c in wh.columns(st.SCHEMA, "record_results")
    }
    if syncs is None:
        syncs = [s for a in load_audiences() for s in a.syncs]
    parts: list[str] = []
    for sync in syncs:
        if not wh.table_exists(sync.schema_name, sync.table):
            continue
        held = held_back_sql(sync, wh)
        if held is None and log:
            log.warning(f"{sync.name}: a policy table is missing; its held-back members are not listed")
        parts += [held] if held else []
        if has_results:
            parts.append(results_sql(sync, has_plan_operation))
    wh.execute("create schema if not exists reporting")
    body = " union all ".join(f"select {COLUMNS} from ({p}) p" for p in parts) or (
        "select cast(null as varchar) as sync_name, cast(null as varchar) as audience, "
        "cast(null as varchar) as destination, cast(null as varchar) as profile_id, "
        "cast(null as varchar) as record_key, cast(null as varchar) as outcome, "
        "cast(null as varchar) as reason, cast(null as varchar) as detail where false"
    )
    wh.execute(f"drop table if exists {TABLE}")
    wh.execute(f"create table {TABLE} as {body}")
    counts = wh.fetchall(
        f"select outcome, reason, count(*) from {TABLE} where outcome <> 'delivered' "
        "group by 1, 2 order by 3 desc, 1, 2"
    )
    sample = wh.fetchall(
        f"select outcome, reason, profile_id, sync_name, detail from (select *, row_number() over "
        f"(partition by outcome, reason order by profile_id, sync_name) as n from {TABLE} "
        f"where outcome <> 'delivered') s where n <= {SAMPLE_PER_REASON} order by outcome, reason, n"
    )
    total = wh.fetchone(f"select count(*) from {TABLE}")[0]
    return {"rows": int(total), "counts": counts, "sample": sample}


def _masked(text: str) -> str:
    """A vendor's error may quote the address it refused: mask anything that looks like one."""
    from syncs.masking import mask_text

    return re.sub(r"[^\s'\"<>(),;]+@[^\s'\"<>(),;]+|\+\d{7,15}", lambda m: mask_text(m.group(0)), text)


@asset(
    key=KEY,
    group_name="reporting",
    deps=[*(a.asset_key for a in load_audiences()), *(sync_asset_key(s) for a in load_audiences() for s in a.syncs)],
    description=(
        "Why, per person: for every sync and member, what happened and why: held back (holdout group, no "
        "consent, pressure cap, suppressed, erased, quiet hours), delivered (added, updated, removed, sent), "
        f"or not (the tool's error code and message). Query `{TABLE}` by profile_id."
    ),
    required_resource_keys={"warehouse"},
    pool="warehouse",
)
def sync_member_outcomes(context: AssetExecutionContext) -> MaterializeResult:
    with context.resources.warehouse.connect() as conn:
        out = build_outcomes(conn, context.log)
    by_reason = [{"outcome": o, "reason": r, "members": n} for o, r, n in out["counts"]]
    sample = [
        # Profile ids are opaque; the vendor's error may quote an address, so only its start is shown.
        {"outcome": o, "reason": r, "profile_id": p, "sync": s, "detail": _masked(d or "")[:80]}
        for o, r, p, s, d in out["sample"]
    ]
    metadata: dict[str, Any] = {
        "dagster/row_count": out["rows"],
        "not_reached_by_reason": MetadataValue.md(rows_markdown(by_reason)),
        "sample_per_reason": MetadataValue.md(rows_markdown(sample)),
        "query": MetadataValue.md(f"`select * from {TABLE} where profile_id = '<profile id>'`"),
    }
    for outcome, reason, n in out["counts"]:
        if outcome == "held back":
            metadata[f"held_back_{reason.replace(' ', '_').replace(':', '')}"] = n
    return MaterializeResult(metadata=metadata)
