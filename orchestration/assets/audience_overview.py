"""One page with every audience: members, trend, consent, destinations, last sync, and their overlap.

The overlap (members two audiences share) is counted in the warehouse, one
query over every audience's profile ids, so it costs one scan per audience
whatever their sizes. Numbers also go out as plain numeric metadata
(``members_<audience>``) so Dagster plots each audience's size over builds.
"""

from typing import Any

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from orchestration.assets.audience_facts import last_sync, metadata_table
from orchestration.assets.catalog import Audience, load_audiences
from orchestration.assets.marketer_words import mode_label, result_words
from orchestration.checks.audiences import audience_frame

KEY = AssetKey(["reporting", "audience_overview"])


def overlap_sql(audiences: list[Audience]) -> str:
    members = " union all ".join(
        f"select distinct {i} as a, cast(profile_id as varchar) as p from {a.relation}" for i, a in enumerate(audiences)
    )
    return (
        f"with m as ({members}) select x.a, y.a, count(*) from m x join m y on x.p = y.p "
        "group by 1, 2"
    )


def overlap_markdown(audiences: list[Audience], counts: dict[tuple[int, int], int]) -> str:
    """A numbered matrix (column n = audience n) so 19 audiences still fit the page."""
    n = len(audiences)
    head = "| # | audience | " + " | ".join(str(j + 1) for j in range(n)) + " |\n|---|---|" + "---|" * n + "\n"
    rows = [
        f"| {i + 1} | {a.title} | " + " | ".join(str(counts.get((i, j), 0)) for j in range(n)) + " |"
        for i, a in enumerate(audiences)
    ]
    return head + "\n".join(rows)


def _previous_sizes(context: AssetExecutionContext) -> dict[str, int]:
    event = context.instance.get_latest_materialization_event(KEY)
    if event is None or event.asset_materialization is None:
        return {}
    return {
        k.removeprefix("members_"): int(v.value)
        for k, v in event.asset_materialization.metadata.items()
        if k.startswith("members_")
    }


def _trend(size: int, before: int | None) -> str:
    if before is None:
        return "new"
    change = size - before
    return "no change" if change == 0 else f"{change:+d}"


def _status(results: list[str]) -> str:
    if not results:
        return "not synced yet"
    bad = [r for r in results if r != "success"]
    return "all delivered" if not bad else "needs attention: " + ", ".join(sorted({result_words(r) for r in bad}))


@asset(
    key=KEY,
    group_name="reporting",
    # Audiences only: the last sync results are read from the engine's runs table, and a
    # dependency on 23 sync assets would make the UI ask to confirm every refresh.
    deps=[a.asset_key for a in load_audiences()],
    description=(
        "Every audience on one page: members, change since the last overview, members with consent, "
        "where it syncs and how its last sync went; and how many members each pair of audiences shares."
    ),
    required_resource_keys={"warehouse"},
    pool="warehouse",
)
def audience_overview(context: AssetExecutionContext) -> MaterializeResult:
    audiences = list(load_audiences())
    before = _previous_sizes(context)
    rows: list[dict[str, Any]] = []
    numbers: dict[str, int] = {}
    with context.resources.warehouse.connect() as conn:
        built = []
        for audience in audiences:
            try:
                frame = audience_frame(conn, audience)
            except Exception as exc:  # noqa: BLE001 - an audience not built yet is listed as such
                context.log.warning(f"{audience.name}: not readable ({type(exc).__name__})")
                rows.append({"audience": audience.title, "members": "not built"})
                continue
            built.append(audience)
            size = len(frame)
            consented = int((frame["consent"] == "granted").sum()) if "consent" in frame else size
            runs = [(s, last_sync(conn, s)) for s in audience.syncs]
            numbers[f"members_{audience.name}"] = size
            rows.append(
                {
                    "audience": audience.title,
                    "members": size,
                    "trend": _trend(size, before.get(audience.name)),
                    "with consent": consented,
                    "destinations": ", ".join(f"{s.destination_name} ({mode_label(s.mode)})" for s in audience.syncs),
                    "last sync": max((str(r.get("finished_at") or "")[:16] for _, r in runs), default="") or "never",
                    "status": _status([r["status"] for _, r in runs if r]),
                }
            )
        counts = {(int(a), int(b)): int(n) for a, b, n in conn.execute(overlap_sql(built)).fetchall()} if built else {}
    return MaterializeResult(
        metadata={
            "audiences": metadata_table(rows),
            "overlap": MetadataValue.md(overlap_markdown(built, counts)),
            "dagster/row_count": len(rows),
            **numbers,
        }
    )
