"""Google Ads engagement back: Customer Match list sizes, landed as a daily snapshot.

Google reports no per-person matches, only the list's estimated sizes
(``user_list.size_for_display``/``size_for_search``, updated hours after a job).
One row per user list and UTC day in ``raw.google_ads_user_list_sizes``; a
re-pull the same day overwrites that day's row, so re-running stores no
duplicates. With ``uploaded`` the display size gives a match rate.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import duckdb

from connectors.google_ads.destination import GoogleAdsCustomerMatch

TABLE = "google_ads_user_list_sizes"
DDL = f"""
create table if not exists raw.{TABLE} (
    user_list varchar not null,
    snapshot_date date not null,
    size_for_display bigint,
    size_for_search bigint,
    uploaded bigint,
    match_rate double,
    pulled_at timestamp not null,
    primary key (user_list, snapshot_date)
)
"""


def pull_user_list_size(
    destination: GoogleAdsCustomerMatch, *, uploaded: int | None = None, path: str | Path | None = None
) -> dict[str, int]:
    """Read the list's sizes through GoogleAdsService search and land today's snapshot."""
    sizes = destination.user_list_size()
    pulled = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rate = min(1.0, sizes["sizeForDisplay"] / uploaded) if uploaded else None
    db = str(path or os.environ.get("FERRY_DUCKDB_PATH") or Path(".ferry/ferry.duckdb"))
    Path(db).parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(50):  # dbt in another process may hold the file for a moment
        try:
            con = duckdb.connect(db)
            break
        except duckdb.IOException:
            if attempt == 49:
                raise
            time.sleep(0.1)
    try:
        con.execute("create schema if not exists raw")
        con.execute(DDL)
        con.execute(
            f"insert into raw.{TABLE} values (?, ?, ?, ?, ?, ?, ?) on conflict (user_list, snapshot_date) do update "
            "set size_for_display = excluded.size_for_display, size_for_search = excluded.size_for_search, "
            "uploaded = coalesce(excluded.uploaded, uploaded), match_rate = coalesce(excluded.match_rate, match_rate), "
            "pulled_at = excluded.pulled_at",
            (destination.user_list, pulled.date(), sizes["sizeForDisplay"], sizes["sizeForSearch"], uploaded, rate,
             pulled),
        )
    finally:
        con.close()
    return sizes
