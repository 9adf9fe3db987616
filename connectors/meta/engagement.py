"""Meta engagement back: the audience's approximate size, landed as a daily snapshot.

Meta offers no per-person match data, only the audience's approximate size
(``approximate_count_lower_bound``/``upper_bound``). We keep one row per audience
and UTC day in ``raw.meta_audience_sizes`` (a re-pull the same day overwrites that
day's row, so re-running stores no duplicates) with the number of people we had
uploaded, so dbt can report a match rate over time. The lower bound is used for
the rate: it never overstates reach.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import duckdb

from connectors.meta.destination import AudienceSize, MetaCustomAudience

TABLE = "meta_audience_sizes"
DDL = f"""
create table if not exists raw.{TABLE} (
    audience_id varchar not null,
    snapshot_date date not null,
    lower_bound bigint,
    upper_bound bigint,
    operation_status integer,
    operation_description varchar,
    uploaded bigint,
    match_rate double,
    pulled_at timestamp not null,
    primary key (audience_id, snapshot_date)
)
"""


def _connect(path: str) -> duckdb.DuckDBPyConnection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(50):  # dbt in another process may hold the file for a moment
        try:
            return duckdb.connect(path)
        except duckdb.IOException:
            if attempt == 49:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")


def land_audience_size(size: AudienceSize, *, uploaded: int | None = None, path: str | Path | None = None) -> None:
    """Upsert today's snapshot of one audience's size into ``raw.meta_audience_sizes``."""
    db = str(path or os.environ.get("FERRY_DUCKDB_PATH") or Path(".ferry/ferry.duckdb"))
    pulled = dt.datetime.fromtimestamp(size.pulled_at, dt.UTC).replace(tzinfo=None)
    row: tuple[Any, ...] = (
        size.audience_id, pulled.date(), size.lower_bound, size.upper_bound, size.operation_status,
        size.operation_description, uploaded, size.match_rate(uploaded) if uploaded else None, pulled,
    )
    con = _connect(db)
    try:
        con.execute("create schema if not exists raw")
        con.execute(DDL)
        con.execute(
            f"insert into raw.{TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (audience_id, snapshot_date) "
            "do update set lower_bound = excluded.lower_bound, upper_bound = excluded.upper_bound, "
            "operation_status = excluded.operation_status, operation_description = excluded.operation_description, "
            "uploaded = coalesce(excluded.uploaded, uploaded), match_rate = coalesce(excluded.match_rate, match_rate), "
            "pulled_at = excluded.pulled_at",
            row,
        )
    finally:
        con.close()


def pull_audience_size(
    destination: MetaCustomAudience, *, uploaded: int | None = None, path: str | Path | None = None
) -> AudienceSize:
    """Read the size from Meta (or its sandbox) and land it; returns the size."""
    size = destination.pull_audience_size()
    land_audience_size(size, uploaded=uploaded, path=path)
    return size
