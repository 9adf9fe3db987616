"""The ad platforms' engagement: audience sizes pulled back from the Meta and Google Ads sandboxes.

The sandboxes hold audiences (as the vendor would after uploads), the warehouse
holds Ferry's sync state for the syncs to them (the people uploaded): the assets
record each platform's reported size, the uploaded count and the match rate in
``raw``, one row per audience and day, however often they run.
"""

from __future__ import annotations

import duckdb
import pytest
from dagster import DagsterInstance, materialize

from connectors.hashing import sha256_hex
from orchestration.assets.catalog import load_sync_configs
from orchestration.assets.engagement import (
    build_engagement_assets,
    pull_google_ads_user_list_sizes,
    pull_meta_audience_sizes,
)
from orchestration.resources import WarehouseResource

META_PEOPLE, GOOGLE_PEOPLE = 180, 40


@pytest.fixture
def warehouse(tmp_path):
    """A warehouse whose sync state says who was uploaded to each ad destination."""
    from syncs.state import STATE, ensure_state
    from syncs.warehouse import Warehouse

    path = tmp_path / "ads.duckdb"
    conn = duckdb.connect(str(path))
    ensure_state(Warehouse(conn))  # the engine's own DDL (its {zstd} placeholders filled)
    for sync in load_sync_configs():
        people = {"meta": META_PEOPLE, "google_ads": GOOGLE_PEOPLE}.get(sync.destination.type)
        if people:
            conn.executemany(
                f"insert into {STATE} (sync_name, record_key, payload_hash) values (?, ?, 'h')",
                [(sync.name, f"p{i}") for i in range(people)],
            )
    conn.close()
    return path


def _fill_sandboxes():
    from connectors.google_ads import datamanager_sandbox as google
    from connectors.meta import sandbox as meta

    audience = meta.local_sandbox().audience(meta.SANDBOX_AUDIENCE_ID)
    for i in range(META_PEOPLE):
        hashed = sha256_hex(f"person{i}@example.com")
        audience.members[f"EMAIL:{hashed}"] = {"EMAIL": hashed}
    user_list = google.local_sandbox().user_list(google.SANDBOX_USER_LIST_ID)
    for i in range(GOOGLE_PEOPLE):
        user_list.add(frozenset({("emailAddress", sha256_hex(f"person{i}@example.com"))}))
    return meta.local_sandbox().matched(audience), google.local_sandbox().matched(user_list)


def _materialize(path):
    result = materialize(
        [pull_meta_audience_sizes, pull_google_ads_user_list_sizes],
        resources={"warehouse": WarehouseResource(duckdb_path=str(path))},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in mat.metadata.items()
        }
    return out


def test_ad_size_assets_are_in_the_engagement_group():
    keys = {k.to_user_string() for a in build_engagement_assets() for k in a.keys}
    assert {"raw/meta_audience_sizes", "raw/google_ads_user_list_sizes"} <= keys


def test_sizes_and_match_rates_land_once_per_day(fresh_sandboxes, warehouse):
    meta_matched, google_matched = _fill_sandboxes()
    assert 0 < meta_matched < META_PEOPLE and 0 < google_matched < GOOGLE_PEOPLE  # partial matches

    metadata = _materialize(warehouse)
    assert metadata["raw/meta_audience_sizes"]["reported_size"] == meta_matched
    assert metadata["raw/meta_audience_sizes"]["match_rate"] == round(meta_matched / META_PEOPLE, 4)
    assert metadata["raw/google_ads_user_list_sizes"]["uploaded"] == GOOGLE_PEOPLE
    again = _materialize(warehouse)  # the same day: rows replaced, not duplicated
    assert again["raw/google_ads_user_list_sizes"]["reported_size"] == google_matched

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        meta_rows = conn.execute(
            "select audience_id, lower_bound, upper_bound, uploaded, match_rate from raw.meta_audience_sizes"
        ).fetchall()
        google_rows = conn.execute(
            "select user_list, size_for_display, size_for_search, uploaded, match_rate "
            "from raw.google_ads_user_list_sizes"
        ).fetchall()
    finally:
        conn.close()
    from connectors.meta.sandbox import SANDBOX_AUDIENCE_ID

    assert len(meta_rows) == 1
    audience_id, lower, upper, uploaded, rate = meta_rows[0]
    assert (audience_id, lower, uploaded) == (SANDBOX_AUDIENCE_ID, meta_matched, META_PEOPLE)
    assert upper >= lower and rate == pytest.approx(meta_matched / META_PEOPLE)
    assert len(google_rows) == 1
    user_list, display, search, uploaded, rate = google_rows[0]
    assert user_list.endswith("/userLists/555") and display == search == google_matched
    assert uploaded == GOOGLE_PEOPLE and rate == pytest.approx(google_matched / GOOGLE_PEOPLE)
