"""What a marketer wants to see on an audience without opening a sync.

Size, change since the last build, members with consent for the audience's
channel, where it syncs (destination, mode, when, last result) and a masked
sample. Read from the warehouse after dbt built the audience (the dbt asset
attaches them to the audience's materialization) and by the overview asset,
which lays every audience side by side with their pairwise overlap.
"""

from __future__ import annotations

from typing import Any

from dagster import AssetKey, DagsterInstance, MetadataValue, TableColumn, TableRecord, TableSchema

from orchestration.assets.catalog import Audience
from orchestration.checks.audiences import audience_frame

SAMPLE_ROWS = 5
ROW_COUNT = "dagster/row_count"


def previous_row_count(instance: DagsterInstance | None, key: AssetKey) -> int | None:
    if instance is None:
        return None
    event = instance.get_latest_materialization_event(key)
    value = event.asset_materialization.metadata.get(ROW_COUNT) if event and event.asset_materialization else None
    return int(value.value) if value is not None else None


def last_sync(conn: Any, sync: Any) -> dict[str, Any]:
    """The latest run of a sync from the engine's own runs table ({} if it never ran)."""
    from syncs.history import recent_runs

    runs = recent_runs(conn, sync.name, limit=1)
    return runs[0] if runs else {}


def _when(run: dict[str, Any]) -> str:
    at = run.get("finished_at") or run.get("started_at")
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "never"


def destinations_table(conn: Any, audience: Audience) -> list[dict[str, Any]]:
    from orchestration.assets.marketer_words import mode_label, result_words
    from orchestration.assets.syncs import schedule_words

    rows = []
    for sync in audience.syncs:
        run = last_sync(conn, sync)
        rows.append(
            {
                "destination": sync.destination_name,
                "mode": mode_label(sync.mode),
                "runs": schedule_words(sync),
                "last sync": _when(run),
                "result": result_words(run.get("status")),
            }
        )
    return rows


def masked_sample(conn: Any, audience: Audience, limit: int = SAMPLE_ROWS) -> list[dict[str, Any]]:
    """A few members with their identifiers masked (syncs.masking), in key order (stable between builds)."""
    from syncs.masking import mask_payload

    columns = list(dict.fromkeys(c for s in audience.syncs for c in s.identifiers.values()))
    picked = ", ".join(f"cast({c} as varchar) as {c}" for c in columns)
    sql = f"select cast({audience.key} as varchar) as member{', ' + picked if picked else ''} " \
          f"from {audience.relation} order by 1 limit {int(limit)}"
    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    return [mask_payload(dict(zip(names, row)), set(columns)) for row in cur.fetchall()]


def metadata_table(rows: list[dict[str, Any]]) -> MetadataValue:
    columns = list(dict.fromkeys(c for r in rows for c in r)) or ["member"]
    schema = TableSchema(columns=[TableColumn(c, "string") for c in columns])
    return MetadataValue.table(
        records=[TableRecord({c: ("" if r.get(c) is None else str(r.get(c))) for c in columns}) for r in rows],
        schema=schema,
    )


def audience_facts(conn: Any, audience: Audience, previous_size: int | None) -> dict[str, Any]:
    """The audience page's metadata: size, change, consented members, destinations, masked sample."""
    frame = audience_frame(conn, audience)
    size = len(frame)
    consented = int((frame["consent"] == "granted").sum()) if "consent" in frame else size
    destinations = destinations_table(conn, audience)
    return {
        ROW_COUNT: size,
        "members": size,
        "change_since_last_build": size - previous_size if previous_size is not None else 0,
        f"with_{audience.channel}_consent" if audience.channel != "none" else "with_consent": consented,
        "destinations": metadata_table(destinations),
        "sample": metadata_table(masked_sample(conn, audience)),
    }
