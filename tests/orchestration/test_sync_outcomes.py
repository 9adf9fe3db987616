"""A sync that does not finish shows red with the reason; previews and confirmations are one action.

Runs through the real Dagster definitions on a private copy of the sample
warehouse. The unreachable destination is SendGrid's API address pointed at a
port nothing listens on (bound, then closed, by this test), so every request
fails in the transport layer the way a down vendor or a firewall does.
"""

from __future__ import annotations

import shutil
import socket

import pytest
from dagster import AssetCheckKey, AssetSelection, DagsterInstance, DagsterInvalidConfigError

from orchestration.assets.catalog import load_audiences
from orchestration.assets.syncs import PREVIEW_CHECK, SYNC_CHECK
from orchestration.checks.audiences import sync_asset_key


@pytest.fixture
def warehouse(tmp_path, monkeypatch, sample_warehouse_build):
    path = tmp_path / "outcomes.duckdb"
    shutil.copyfile(sample_warehouse_build[0], path)
    monkeypatch.setenv("FERRY_DUCKDB_PATH", str(path))
    monkeypatch.setenv("FERRY_SANDBOX", "1")
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sendgrid_list_sync():
    found = [
        (a, s) for a in load_audiences() for s in a.syncs
        if s.destination.type == "sendgrid" and s.mode in ("mirror", "upsert")
    ]
    found.sort(key=lambda pair: (pair[0].name != "aud_win_back", pair[0].name))
    return found[0]


def _check_evaluations(result) -> dict[str, object]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            out[ev.check_name] = ev
    return out


def test_unreachable_destination_fails_its_check_with_the_transport_error(warehouse, monkeypatch):
    from connectors.sendgrid.sandbox import SANDBOX_API_KEY
    from orchestration.definitions import defs
    from orchestration.main_job import execute_selection

    monkeypatch.setenv("SENDGRID_API_KEY", SANDBOX_API_KEY)
    monkeypatch.setenv("SENDGRID_HOST", f"http://127.0.0.1:{_closed_port()}")
    _audience, sync = _sendgrid_list_sync()
    key = sync_asset_key(sync)
    with DagsterInstance.ephemeral() as instance:
        result = execute_selection(defs, instance, AssetSelection.assets(key), name="sync_unreachable")
        assert not result.success  # the step fails: the run is red
        checks = _check_evaluations(result)
        assert PREVIEW_CHECK not in checks  # a sync run sends; previews are run by hand
        check = checks[SYNC_CHECK]
        assert not check.passed and check.severity.value == "ERROR"
        first_line = check.description.splitlines()[0]
        assert first_line.startswith("Not finished:") and "could not be reached" in first_line
        assert "ConnectionError" in check.description, check.description
        meta = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
        assert meta["not_delivered"] > 0 and meta["added"] == 0
        # The members left undone are listed (opaque profile ids, not addresses), with the error.
        undone = meta["members_left_undone"]
        assert "| record_key | operation | status | error |" in undone
        assert "pending" in undone and "ConnectionError" in undone and "@" not in undone
        # The step's failure says the same in plain words.
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failures and "could not be reached" in failures[0].event_specific_data.error.message
        # The asset's latest check execution on the instance is the failed one.
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(key, SYNC_CHECK)]
        )[AssetCheckKey(key, SYNC_CHECK)]
        assert record.status.value == "FAILED"


def test_preview_check_reports_counts_reasons_and_a_masked_sample(warehouse):
    from orchestration.definitions import defs
    from orchestration.main_job import execute_selection

    _audience, sync = _sendgrid_list_sync()
    check_key = AssetCheckKey(sync_asset_key(sync), PREVIEW_CHECK)
    with DagsterInstance.ephemeral() as instance:
        result = execute_selection(defs, instance, AssetSelection.checks(check_key), name="preview")
        assert result.success
        check = _check_evaluations(result)[PREVIEW_CHECK]
        meta = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
    assert check.passed and check.description.startswith(f"Would add {meta['to_add']},")
    assert meta["to_add"] > 0 and meta["members"] >= meta["to_add"]
    assert meta["held_back"] == sum(v for k, v in meta.items() if k.startswith("held_back_") and isinstance(v, int))
    assert "| reason | members held back |" in meta["held_back_by_reason"]
    sample = meta["sample"]
    assert "| member | would be |" in sample and "added" in sample
    assert "***@" in sample  # emails masked
    assert not any(e.event_type_value == "ASSET_MATERIALIZATION" for e in result.all_events)


def test_preview_job_refuses_a_misspelt_sync_name():
    from orchestration.definitions import defs

    job = defs.resolve_job_def("plan_sync")
    _audience, sync = _sendgrid_list_sync()
    with pytest.raises(DagsterInvalidConfigError, match="sync"):
        job.execute_in_process(
            run_config={"ops": {"plan_one_sync": {"config": {"sync": sync.name + "x"}}}},
            instance=DagsterInstance.ephemeral(),
        )


def test_each_sync_has_a_confirm_job():
    from orchestration.definitions import defs

    for audience in load_audiences():
        for sync in audience.syncs:
            job = defs.resolve_job_def(f"confirm_{sync.name}")
            assert sync_asset_key(sync) in job.asset_layer.selected_asset_keys
    # That the job goes ahead after a stop is shown by test_sandboxes_receive_audiences (Meta's floor).


def test_reasons_per_person_are_queryable_for_a_held_back_and_a_rejected_member(
    warehouse, fresh_sandboxes
):
    """One member the SendGrid sandbox rejects, one the policies hold back (suppressed for e-mail):
    `reporting.sync_member_outcomes` says why for each, by profile id."""
    import duckdb

    from connectors.sendgrid.sandbox import local_sandbox
    from orchestration.assets.member_outcomes import KEY, TABLE
    from orchestration.definitions import defs
    from orchestration.main_job import execute_selection
    from orchestration.testing import expected_email_members

    audience, sync = _sendgrid_list_sync()
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        eligible = sorted(expected_email_members(conn, audience, sync))
        column = sync.identifiers["email"]
        rejected_profile = conn.execute(
            f"select cast(profile_id as varchar) from {audience.relation} where lower(trim({column})) = ?",
            [eligible[0]],
        ).fetchone()[0]
        # Independently of the engine: a member outside the holdout (checked first) with an
        # e-mail suppression that is not an erasure.
        suppressed = conn.execute(
            f"""select cast(a.profile_id as varchar), min(s.reason) from {audience.relation} a
            join marts.customer_suppressions s on s.profile_id = a.profile_id and s.channel = 'email'
            where coalesce(a.variant, '') <> 'holdout' and s.reason <> 'erasure'
            group by 1 order by 1 limit 1"""
        ).fetchone()
    finally:
        conn.close()
    assert suppressed, f"{audience.name} has no member suppressed for e-mail in the sample"
    local_sandbox().faults.reject(eligible[0], "mailbox does not exist")

    with DagsterInstance.ephemeral() as instance:
        synced = execute_selection(defs, instance, AssetSelection.assets(sync_asset_key(sync)), name="sync")
        assert not synced.success  # one rejected member: the run did not finish its work
        check = _check_evaluations(synced)[SYNC_CHECK]
        assert "1 rejected" in check.description and "mailbox does not exist" in check.description
        built = execute_selection(defs, instance, AssetSelection.assets(KEY), name="outcomes")
        assert built.success
        mat = next(e for e in built.all_events if e.event_type_value == "ASSET_MATERIALIZATION")
        meta = {k: getattr(v, "value", v) for k, v in mat.event_specific_data.materialization.metadata.items()}
    assert f"| held back | suppressed: {suppressed[1]} |" in meta["not_reached_by_reason"]
    assert "rejected" in meta["sample_per_reason"] and "@" not in meta["sample_per_reason"]

    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        def why(profile):
            return conn.execute(
                f"select outcome, reason, detail from {TABLE} where profile_id = ? and sync_name = ?",
                [profile, sync.name],
            ).fetchall()

        assert why(suppressed[0]) == [("held back", f"suppressed: {suppressed[1]}", None)]
        assert why(rejected_profile) == [("rejected", "mailbox does not exist", "mailbox does not exist")]
        delivered = conn.execute(
            f"select count(*) from {TABLE} where sync_name = ? and outcome = 'delivered'", [sync.name]
        ).fetchone()[0]
        assert delivered == len(eligible) - 1
    finally:
        conn.close()
