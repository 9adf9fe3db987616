"""Audience facts and the overview, on a copy of the sample warehouse after one sync ran."""

from __future__ import annotations

import shutil

import duckdb
from dagster import AssetSelection, DagsterInstance

from orchestration.assets.catalog import load_audiences
from orchestration.assets.marketer_words import mode_label
from orchestration.checks.audiences import sync_asset_key


def _win_back():
    audience = next(a for a in load_audiences() if a.name == "aud_win_back")
    return audience, next(s for s in audience.syncs if s.destination.type == "sendgrid")


def test_overview_lists_every_audience_with_size_destinations_last_sync_and_overlap(
    tmp_path, monkeypatch, sample_warehouse_build, fresh_sandboxes
):
    from orchestration.assets.audience_facts import audience_facts
    from orchestration.assets.audience_overview import KEY
    from orchestration.definitions import defs
    from orchestration.main_job import execute_selection

    path = tmp_path / "overview.duckdb"
    shutil.copyfile(sample_warehouse_build[0], path)
    monkeypatch.setenv("FERRY_DUCKDB_PATH", str(path))
    monkeypatch.setenv("FERRY_SANDBOX", "1")
    audience, sync = _win_back()
    with DagsterInstance.ephemeral() as instance:
        synced = execute_selection(defs, instance, AssetSelection.assets(sync_asset_key(sync)), name="sync")
        assert synced.success
        result = execute_selection(defs, instance, AssetSelection.assets(KEY), name="overview")
        assert result.success
        mat = next(e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION")
        meta = mat.event_specific_data.materialization.metadata

    conn = duckdb.connect(str(path), read_only=True)
    try:
        sizes = {a.name: conn.execute(f"select count(*) from {a.relation}").fetchone()[0] for a in load_audiences()}
        both = conn.execute(
            "select count(*) from (select profile_id from audiences.aud_win_back intersect "
            "select profile_id from audiences.aud_champions)"
        ).fetchone()[0]
        facts = audience_facts(conn, audience, previous_size=sizes[audience.name] - 3)
    finally:
        conn.close()

    records = {r.data["audience"]: r.data for r in meta["audiences"].value.records}
    assert set(records) == {a.title for a in load_audiences()}
    row = records[audience.title]
    assert row["members"] == str(sizes[audience.name]) and row["trend"] == "new"
    assert f"{sync.destination_name} ({mode_label(sync.mode)})" in row["destinations"]
    assert row["status"] == "all delivered" and row["last sync"] != "never"
    assert meta[f"members_{audience.name}"].value == sizes[audience.name]
    # Overlap: the diagonal is each audience's size; one off-diagonal cell checked against SQL.
    names = [a.name for a in load_audiences()]
    lines = meta["overlap"].value.splitlines()[2:]
    cells = {names[i]: line.strip("| ").split(" | ")[2:] for i, line in enumerate(lines)}
    i, j = names.index("aud_win_back"), names.index("aud_champions")
    assert cells["aud_win_back"][i] == str(sizes["aud_win_back"])
    assert cells["aud_win_back"][j] == cells["aud_champions"][i] == str(both)

    # The audience's own page: size, change, consent, destinations with the last result, masked sample.
    assert facts["dagster/row_count"] == sizes[audience.name] and facts["change_since_last_build"] == 3
    assert 0 < facts["with_email_consent"] <= sizes[audience.name]
    dest = facts["destinations"].value.records[0].data
    assert dest["destination"] == sync.destination_name and dest["result"] == "delivered"
    assert dest["mode"] == mode_label(sync.mode) and dest["mode"] != sync.mode
    sample = [r.data for r in facts["sample"].value.records]
    assert sample and all("***@" in r["email"] for r in sample if r.get("email"))
