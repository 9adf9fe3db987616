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
    err = capsys.readouterr().err
    assert "meta.ferry.syncs.1.destination: 'broken' is invalid" in err and "not_a_connector" in err
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
    assert main(base + ["list"]) == 1  # a declaration did not load: listed, and the exit says so
    out = capsys.readouterr().out
    assert "aud_test__loop" in out
    assert "not loaded" in out and "aud_test__broken" in out and "not_a_connector" in out
    assert main(base + ["plan", "nope"]) == 1
    assert "known: aud_test__loop" in capsys.readouterr().err


def test_plan_and_run_name_the_warehouse_and_the_target(project, capsys):
    base, db = project
    assert main(base + ["plan", "aud_test__loop"]) == 0
    out = capsys.readouterr().out
    assert "at loopback" in out and f"warehouse duckdb ({db.resolve()})" in out
    assert main(base + ["plan", "aud_test__loop", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["target"] == "loopback" and plan["warehouse"] == f"duckdb ({db.resolve()})"
    assert main(base + ["run", "aud_test__loop", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["target"] == "loopback"


def _state_rows(db) -> dict[str, int]:
    conn = duckdb.connect(str(db))
    try:
        return {
            t: conn.execute(f"select count(*) from ferry_sync.{t} where sync_name = 'aud_test__loop'").fetchone()[0]
            for t in ("sync_state", "record_status", "send_ledger", "runs")
        }
    finally:
        conn.close()


def test_reset_asks_then_clears_state_and_keeps_the_audit(project, capsys, monkeypatch):
    base, db = project
    assert main(base + ["run", "aud_test__loop"]) == 0
    before = _state_rows(db)
    assert before["sync_state"] == 9 and before["runs"] == 1
    capsys.readouterr()

    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    assert main(base + ["reset", "aud_test__loop"]) == 1
    out = capsys.readouterr().out
    assert "9 sync_state" in out and "not cleared" in out
    assert _state_rows(db) == before

    assert main(base + ["reset", "aud_test__loop", "--yes"]) == 0
    assert "cleared 9 rows of sync_state" in capsys.readouterr().out
    after = _state_rows(db)
    assert after == {"sync_state": 0, "record_status": 0, "send_ledger": 0, "runs": 1}
    # The next run starts from empty state: every eligible member is sent again.
    assert main(base + ["run", "aud_test__loop", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["sent"] == 9
    assert main(base + ["reset", "aud_test__missing", "--yes"]) == 0
    assert "nothing to clear" in capsys.readouterr().out


def test_missing_credentials_outside_sandbox_mode_fail_before_anything(tmp_path, project, capsys, monkeypatch):
    base, db = project
    monkeypatch.delenv("FERRY_SANDBOX", raising=False)
    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    dests = tmp_path / "destinations.yml"
    dests.write_text(
        "destinations:\n"
        "  loop:\n"
        "    type: sendgrid\n"
        "    options: {api_key: '${SENDGRID_API_KEY}', list_name: ferry}\n"
        "  broken: {type: not_a_connector}\n"
    )
    args = base[:-1] + [str(dests)]
    for command in ("plan", "run"):
        assert main(args + [command, "aud_test__loop"]) == 1
        captured = capsys.readouterr()
        err = captured.err + captured.out  # plan: an error line; run: the sync's row and its error
        assert "SENDGRID_API_KEY is not set (set it, or FERRY_SANDBOX=1 for the local sandbox)" in err
    conn = duckdb.connect(str(db))
    schemas = conn.execute("select count(*) from information_schema.schemata where schema_name = 'ferry_sync'")
    assert schemas.fetchone()[0] == 0  # no run was even recorded
    conn.close()


def test_a_second_process_on_the_same_duckdb_file_is_told_and_sends_nothing(project, capsys):
    """DuckDB allows one writing process per file: a second `ferry sync run` while another
    process holds the warehouse stops with one clear line, not a lock traceback."""
    import subprocess
    import sys

    base, db = project
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(db)!r}); print('ready', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert main(base + ["run", "aud_test__loop"]) == 1
        err = capsys.readouterr().err
        assert "is in use by another process" in err and f"PID {holder.pid}" in err
        assert "Traceback" not in err
    finally:
        holder.stdin.close()
        holder.wait(30)
    assert main(base + ["run", "aud_test__loop"]) == 0  # once it is free, the run goes ahead
