"""The gate every audience passes before it syncs.

Three Great Expectations expectations per audience, run as *blocking* asset
checks on the audience's dbt asset (so a graph run stops its syncs) and again
by each sync asset right before it plans (so a sync launched on its own from
the UI is gated too):

- no duplicate (or missing) record keys: a duplicate would be sent twice;
- size change versus the last synced size within a bound (``meta.ferry_checks``
  ``max_size_change``, default 50 %, tiny moves of ``min_change_rows`` always
  allowed): a broken join that empties or doubles an audience stops here;
- no member without consent for the audience's channel (email, sms, ads).
"""


from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DagsterInstance,
    MetadataValue,
    multi_asset_check,
)

from orchestration.assets.catalog import Audience, load_audiences, model_relation
from orchestration.checks.gx_runner import Expectation, ExpectationOutcome, gx, run_suite

CONSENT_MODEL = "customer_consent"


def sync_asset_key(sync: Any) -> AssetKey:
    """Asset key of one sync (audience x destination): ``syncs/<sync name>``."""
    return AssetKey(["syncs", sync.name])


def check_names(audience: Audience) -> list[str]:
    names = ["no_duplicate_keys", "size_change_within_bound"]
    if audience.channel != "none":
        names.append(f"consented_for_{audience.channel}")
    return names


@dataclass
class GateResult:
    audience: str
    size: int
    previous_size: int | None
    outcomes: list[ExpectationOutcome]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def reasons(self) -> list[str]:
        return [o.message for o in self.outcomes if not o.passed]


def previous_synced_size(instance: DagsterInstance | None, audience: Audience) -> int | None:
    """The audience size recorded by the most recent materialization of any of its syncs."""
    if instance is None:
        return None
    latest: tuple[float, int] | None = None
    for sync in audience.syncs:
        event = instance.get_latest_materialization_event(sync_asset_key(sync))
        if event is None or event.asset_materialization is None:
            continue
        value = event.asset_materialization.metadata.get("members")
        if value is None:
            continue
        if latest is None or event.timestamp > latest[0]:
            latest = (event.timestamp, int(value.value))
    return latest[1] if latest else None


def _consent_relation() -> str:
    found = model_relation(CONSENT_MODEL)
    return found[1] if found else f"marts.{CONSENT_MODEL}"


def audience_frame(conn: Any, audience: Audience):
    """One row per member: its record key and, for a messaging channel, whether it has consent."""
    consent = ""
    if audience.channel != "none":
        consent = (
            f", case when exists (select 1 from {_consent_relation()} c where c.profile_id = a.profile_id"
            f" and c.channel = '{audience.channel}' and c.is_consented) then 'granted' else 'missing' end as consent"
        )
    sql = f"select cast(a.{audience.key} as varchar) as record_key{consent} from {audience.relation} a"
    result = conn.execute(sql)
    if hasattr(result, "df"):  # DuckDB
        return result.df()
    import pandas as pd  # psycopg (PostgreSQL): rows and column names

    return pd.DataFrame(result.fetchall(), columns=[d.name for d in result.description])


def evaluate_audience(conn: Any, audience: Audience, previous_size: int | None) -> GateResult:
    """Run the audience's suite; a missing relation counts as failed checks, not a crash."""
    try:
        frame = audience_frame(conn, audience)
    except Exception as exc:  # the table or the consent mart is not built
        why = f"could not read {audience.relation} or its consent: {type(exc).__name__}: {str(exc)[:300]}"
        return GateResult(
            audience.name, 0, previous_size,
            [ExpectationOutcome(name, False, why) for name in check_names(audience)],
        )
    size = len(frame)
    expectations = [
        Expectation(
            "no_duplicate_keys",
            gx.expectations.ExpectColumnValuesToBeUnique(column="record_key"),
            f"each {audience.key} must appear once, or its member would be sent twice",
        ),
    ]
    if previous_size is None:
        size_ok = ExpectationOutcome(
            "size_change_within_bound", True, "first sync: nothing to compare with",
            {"observed_value": size},
        )
    else:
        allowed = max(int(previous_size * audience.checks.max_size_change), audience.checks.min_change_rows)
        lo, hi = max(previous_size - allowed, 0), previous_size + allowed
        expectations.append(
            Expectation(
                "size_change_within_bound",
                gx.expectations.ExpectTableRowCountToBeBetween(min_value=lo, max_value=hi),
                f"size moved more than {audience.checks.max_size_change:.0%} from the last synced "
                f"{previous_size} (allowed {lo}..{hi}); confirm the audience logic before syncing",
            )
        )
        size_ok = None
    if audience.channel != "none":
        expectations.append(
            Expectation(
                f"consented_for_{audience.channel}",
                # A text flag: GE's set membership on pandas booleans is unreliable.
                gx.expectations.ExpectColumnValuesToBeInSet(column="consent", value_set=["granted"]),
                f"members without {audience.channel} consent must never be in a synced audience",
            )
        )
    outcomes = run_suite(f"audience_{audience.name}", frame, expectations)
    if size_ok is not None:
        outcomes.insert(1, size_ok)
    # A null key is as bad as a duplicate: fold it into the same check.
    nulls = int(frame["record_key"].isna().sum()) if size else 0
    if nulls:
        first = outcomes[0]
        first.passed = False
        first.observed["null_keys"] = nulls
    return GateResult(audience.name, size, previous_size, outcomes)


def gate_metadata(gate: GateResult) -> dict[str, Any]:
    return {
        "audience_size": gate.size,
        "previous_synced_size": gate.previous_size if gate.previous_size is not None else -1,
        "checks": MetadataValue.md("\n".join(f"- {o.message}" for o in gate.outcomes)),
    }


def _build_audience_check(audience: Audience):
    specs = [
        AssetCheckSpec(
            name, asset=audience.asset_key, blocking=True,
            description={
                "no_duplicate_keys": f"Every {audience.key} appears once (GE: unique, not null).",
                "size_change_within_bound": (
                    f"Size within {audience.checks.max_size_change:.0%} of the last synced size."
                ),
            }.get(name, f"Every member has {audience.channel} consent."),
        )
        for name in check_names(audience)
    ]

    @multi_asset_check(
        specs=specs,
        name=f"gate_{audience.name}",
        description=f"Great Expectations gate of audience {audience.title} before it syncs.",
        required_resource_keys={"warehouse"},
    )
    def _gate(context: AssetCheckExecutionContext) -> Iterable[AssetCheckResult]:
        with context.resources.warehouse.connect() as conn:
            gate = evaluate_audience(conn, audience, previous_synced_size(context.instance, audience))
        for outcome in gate.outcomes:
            yield AssetCheckResult(
                asset_key=audience.asset_key,
                check_name=outcome.name,
                passed=outcome.passed,
                severity=AssetCheckSeverity.ERROR,
                description=outcome.message,
                metadata={"audience_size": gate.size, **{k: v for k, v in outcome.observed.items()}},
            )

    return _gate


def build_audience_checks() -> list:
    return [_build_audience_check(a) for a in load_audiences()]
