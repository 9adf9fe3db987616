"""`ferry sync` end to end in-process: list, plan (dry run), run with summary and exit codes."""

from __future__ import annotations

import json

import duckdb
import pytest

from orchestration.cli import main
from tests.syncs.conftest import create_warehouse, set_audience


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    db = tmp_path / "wh.duckdb"
    conn = duckdb.connect(str(db))
    create_warehouse(conn)
    set_audience(
        conn,
        [(f"p{i}", f"u{i}@x.com", "N", "holdout" if i == 0 else "treatment") for i in range(10)],
    )
    conn.close()
    node = {
        "unique_id": "model.ferry.aud_test",
        "resource_type": "model",
        "name": "aud_test",
        "schema": "audiences",
        "alias": "aud_test",
        "config": {
            "meta": {
                "ferry": {
                    "channel": "email",
                    "syncs": [
                        {
                            "destination": "loop",
                            "mode": "mirror",
                            "schedule": "* * * * *",
                            "identifiers": {"email": "email"},
                            "fields": {"first_name": "first_name"},
                            "policies": {"max_removal_share": 0.2},
                        },
                        {
                            "destination": "broken",
                            "mode": "upsert",
                            "identifiers": {"email": "email"},
                        },
                    ],
                }
            }
        },
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {node["unique_id"]: node}}))
    dests = tmp_path / "destinations.yml"
    dests.write_text(
        "destinations:\n"
        "  loop: {type: loopback, module: tests.syncs.loopback, class: LoopbackDestination}\n"
        "  broken: {type: not_a_connector}\n"
    )
    return [
        "sync",
        "--duckdb",
        str(db),
        "--manifest",
        str(manifest),
        "--destinations",
        str(dests),
    ], db


def test_plan_is_a_dry_run(project, capsys):
    base, db = project
    assert main(base + ["plan", "aud_test__loop", "--json", "--sample", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["add"] == 9 and out["suppressed"] == {"holdout": 1}
    assert len(out["sample"]) == 3 and "@" in out["sample"][0]["payload"]["email"]
    assert "u1@x.com" not in json.dumps(out["sample"])
    conn = duckdb.connect(str(db))
    assert (
        conn.execute(
            "select count(*) from information_schema.schemata where schema_name = 'ferry_sync'"
        ).fetchone()[0]
        == 0
    )


def test_run_then_unchanged_rerun_sends_zero(project, capsys):
    base, _db = project
    assert main(base + ["run", "aud_test__loop"]) == 0
    out = capsys.readouterr().out
    assert "success" in out and "Sync runs" in out
    assert main(base + ["run", "aud_test__loop", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["sent"] == 0 and result["planned"]["unchanged"] == 9


def test_exit_codes_for_failures_and_safety_stops(project, capsys):
    base, db = project
    assert main(base + ["run", "aud_test__broken"]) == 1
    assert "not_a_connector" in capsys.readouterr().out
    main(base + ["run", "aud_test__loop"])
    conn = duckdb.connect(str(db))
    conn.execute("delete from audiences.aud_test where profile_id in ('p1', 'p2', 'p3')")
    conn.close()
    assert main(base + ["run", "aud_test__loop"]) == 2  # 3 of 9 removals > 20%
    assert main(base + ["run", "aud_test__loop", "--confirm"]) == 0


def test_run_all_runs_only_due_syncs(project, capsys):
    base, _ = project
    assert main(base + ["run", "--all", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["sync"] for r in results] == ["aud_test__loop"]  # the unscheduled one is manual only


def test_list_and_bad_name(project, capsys):
    base, _ = project
    assert main(base + ["list"]) == 0
    assert "aud_test__loop" in capsys.readouterr().out
    assert main(base + ["plan", "nope"]) == 1
    assert "known: aud_test__loop" in capsys.readouterr().err
