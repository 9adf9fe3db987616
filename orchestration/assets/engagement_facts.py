"""Campaign figures on the reporting asset's own page, where the marketer looks.

After dbt builds `rpt_campaign_performance`, its materialization carries the
figures per campaign (audience x sync x variant x channel) and per audience as
tables, and the totals and rates as plain numbers, so Dagster plots them
build after build (the asset's Plots tab).
"""

from __future__ import annotations

from typing import Any

COUNTS = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed")
CAMPAIGN_MODEL = "rpt_campaign_performance"


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _rates(row: dict[str, Any]) -> dict[str, Any]:
    sent, delivered = row["sent"], row["delivered"]
    return {
        "delivery_rate": _rate(delivered, sent),
        "open_rate": _rate(row["opened"], delivered),
        "click_rate": _rate(row["clicked"], delivered),
        "bounce_rate": _rate(row["bounced"], sent),
        "unsubscribe_rate": _rate(row["unsubscribed"], delivered),
    }


def campaign_facts(conn: Any, relation: str) -> dict[str, Any]:
    """Per campaign and per audience tables, totals and rates as numbers (for plots)."""
    from orchestration.assets.audience_facts import metadata_table

    sums = ", ".join(f"sum({c}) as {c}" for c in COUNTS)
    cur = conn.execute(
        f"select coalesce(audience_name, 'unattributed') as audience, coalesce(sync_name, '') as sync, "
        f"coalesce(variant, '') as variant, channel, {sums} from {relation} group by 1, 2, 3, 4 order by 1, 2, 3, 4"
    )
    names = [d[0] for d in cur.description]
    campaigns = [dict(zip(names, r)) for r in cur.fetchall()]
    by_audience: dict[str, dict[str, Any]] = {}
    for row in campaigns:
        agg = by_audience.setdefault(row["audience"], {"audience": row["audience"], **{c: 0 for c in COUNTS}})
        for c in COUNTS:
            agg[c] += int(row[c] or 0)
    totals = {c: sum(int(r[c] or 0) for r in campaigns) for c in COUNTS}

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, **{k: f"{v:.1%}" for k, v in _rates(row).items()}}

    for row in campaigns:
        for c in COUNTS:
            row[c] = int(row[c] or 0)
    return {
        "campaigns": metadata_table([shown(r) for r in campaigns]),
        "by_audience": metadata_table([shown(r) for r in by_audience.values()]),
        **{f"total_{c}": v for c, v in totals.items()},
        **_rates(totals),
    }
