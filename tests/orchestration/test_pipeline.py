"""The whole graph against a temporary DuckDB and the vendor sandboxes.

- the warehouse phase builds and every audience gate passes;
- a failing blocking gate stops the sync: nothing reaches the sandbox;
- every sync runs, and the SendGrid sandbox then holds exactly the eligible
  audience members (computed here independently from the marts), a re-run
  sends nothing.
"""

from __future__ import annotations

import duckdb
from dagster import AssetKey, AssetSelection, DagsterInstance

from orchestration.assets.catalog import load_audiences
from orchestration.checks.audiences import check_names, sync_asset_key
from orchestration.testing import expected_email_members, list_name_of, sendgrid_list_emails


def _marketing_syncs():
    return [(a, s) for a in load_audiences() for s in a.syncs
            if s.destination.type == "sendgrid" and s.mode in ("mirror", "upsert")]


def _sendgrid_list_emails(list_name: str) -> set[str]:
    from connectors.sendgrid.sandbox import local_sandbox

    return sendgrid_list_emails(local_sandbox(), list_name)


def _materialize(selection):
    from orchestration.definitions import defs
    from orchestration.main_job import execute_selection

    return execute_selection(defs, DagsterInstance.ephemeral(), selection)


def test_warehouse_phase_builds_and_gates_pass(sample_warehouse):
    gates = [c for c in sample_warehouse["checks"] if c[0].startswith("audiences/")]
    audiences = load_audiences()
    assert len(gates) == sum(len(check_names(a)) for a in audiences)
    failed = [c for c in gates if not c[1]]
    assert not failed, failed


def test_failing_gate_prevents_the_sync(sample_warehouse, warehouse_path):
    audience, sync = _marketing_syncs()[0]
    conn = duckdb.connect(str(warehouse_path))
    conn.execute(f"insert into {audience.relation} select * from {audience.relation} limit 1")
    conn.close()
    from connectors.sendgrid.sandbox import local_sandbox

    # The process-wide sandbox may hold other tests' requests: look only at ours.
    seen = len(local_sandbox().request_log)
    try:
        result = _materialize(AssetSelection.assets(sync_asset_key(sync)))
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.message
        assert "stopped before sending" in message.lower() and "no_duplicate_keys" in message
        assert _sendgrid_list_emails(list_name_of(sync)) == set()
        assert not any(r.path.startswith("/v3/marketing/contacts") and r.method == "PUT"
                       for r in local_sandbox().request_log[seen:])
        # The same gate as a Dagster asset check on the audience says why, too.
        from dagster import AssetCheckKey

        check_run = _materialize(AssetSelection.checks(
            *[AssetCheckKey(audience.asset_key, name) for name in check_names(audience)]
        ))
        evaluations = {e.event_specific_data.check_name: e.event_specific_data for e in check_run.all_events
                       if e.event_type_value == "ASSET_CHECK_EVALUATION"}
        assert not evaluations["no_duplicate_keys"].passed
        assert evaluations["size_change_within_bound"].passed
    finally:
        conn = duckdb.connect(str(warehouse_path))
        conn.execute(f"create or replace table {audience.relation} as select distinct * from {audience.relation}")
        conn.close()


def test_plan_job_is_a_dry_run(sample_warehouse, warehouse_path):
    """The launchpad's plan job shows adds and a masked sample, and sends nothing."""
    from connectors.sendgrid.sandbox import local_sandbox
    from orchestration.definitions import defs

    audience, sync = _marketing_syncs()[0]
    requests_before = len(local_sandbox().request_log)
    result = defs.resolve_job_def("plan_sync").execute_in_process(
        run_config={"ops": {"plan_one_sync": {"config": {"sync": sync.name}}}},
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    observation = next(e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION")
    meta = {k: getattr(v, "value", v) for k, v in observation.event_specific_data.asset_observation.metadata.items()}
    conn = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        expected = expected_email_members(conn, audience, sync)
    finally:
        conn.close()
    assert meta["to_add"] == len(expected) > 0
    assert meta["gate_passed"] is True
    sample = meta["sample"]
    assert "@" in sample and not any(email in sample for email in expected)  # masked
    assert _sendgrid_list_emails(list_name_of(sync)) == set()
    assert not any(r.method == "PUT" for r in local_sandbox().request_log[requests_before:])


def test_syncs_reach_the_sandboxes_with_exactly_the_audience(sample_warehouse, warehouse_path):
    from orchestration.definitions import defs
    from orchestration.main_job import phase_keys, run_phase

    instance = DagsterInstance.ephemeral()
    result = run_phase(defs, instance, "syncs", phase_keys(defs)["syncs"])
    # On a small sample, an ad audience may be under the platform's floor: the
    # engine then waits for a human, which is the correct outcome, not a failure.
    unexpected = {k: v for k, v in result.failures.items() if "below the destination's minimum" not in v}
    assert not unexpected, unexpected
    for audience in load_audiences():
        for sync in audience.syncs:
            meta = result.materialized.get(sync_asset_key(sync))
            if meta is None:
                assert any(sync.name in step for step in result.failures), sync.name
                continue
            assert meta["rejected"] == 0 and meta["parked"] == 0, (sync.name, meta)
    conn = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        by_list: dict[str, set[str]] = {}
        for audience, sync in _marketing_syncs():
            list_name = list_name_of(sync)
            expected = expected_email_members(conn, audience, sync)
            assert result.materialized[sync_asset_key(sync)]["added"] == len(expected)
            by_list.setdefault(list_name, set()).update(expected)
    finally:
        conn.close()
    assert by_list, "no SendGrid marketing sync declared"
    for list_name, expected in by_list.items():
        assert expected, f"every marketing audience is empty: nothing proves the sync ({list_name})"
        assert _sendgrid_list_emails(list_name) == expected

    # Unchanged audiences: a second run sends nothing.
    again = run_phase(defs, instance, "syncs", [sync_asset_key(s) for _, s in _marketing_syncs()])
    assert again.success, again.failures
    assert all(m["added"] + m["updated"] + m["removed"] + m["sent"] == 0 for m in again.materialized.values())

    # The loop closes: engagement pulled back from the sandboxes reaches the marts
    # (timeline, suppressions) and the reports in the reporting phase.
    keys = phase_keys(defs)
    assert {"identity/int_events", "profiles/customer_events", "scores/customer_suppressions"} <= {
        k.to_user_string() for k in keys["reporting"]
    }
    # The sandboxes' recipients engage (the demo's step, seeded), then the assets pull.
    # This sample's sends are SMS (no transactional e-mail audience has members), so
    # the loop is shown on Twilio: statuses -> raw -> customer_events -> reports.
    from connectors.sandbox_engagement import simulate_sandbox_engagement

    engaged = simulate_sandbox_engagement(warehouse_path, seed=7)
    assert engaged.twilio_status_changes > 0, "the SMS sends produced no status in the sandbox"
    pulled = run_phase(defs, instance, "engagement", keys["engagement"])
    assert pulled.success, pulled.failures
    reported = run_phase(defs, instance, "reporting", keys["reporting"], dbt_tests=False)
    assert reported.success, reported.failures
    conn = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        raw_statuses = conn.execute("select count(*) from raw.twilio_message_status").fetchone()[0]
        timeline = conn.execute(
            "select count(*) from marts.customer_events where source like 'twilio%'"
        ).fetchone()[0]
        messages = conn.execute("select count(*) from reporting.rpt_campaign_messages").fetchone()[0]
    finally:
        conn.close()
    assert raw_statuses > 0, "the sandbox's statuses were not pulled back"
    assert timeline > 0 and messages > 0, (raw_statuses, timeline, messages)
    # The figures are on the campaign report's own page: per campaign and per audience, and
    # totals and rates as numbers (Dagster plots them build after build).
    report = reported.materialized[AssetKey(["reporting", "rpt_campaign_performance"])]
    assert report["total_sent"] > 0 and 0 < report["delivery_rate"] <= 1, report
    audiences = {r.data["audience"]: r.data for r in report["by_audience"].records}
    campaigns = [r.data for r in report["campaigns"].records]
    assert sum(int(r["sent"]) for r in audiences.values()) == report["total_sent"]
    assert sum(int(r["sent"]) for r in campaigns) == report["total_sent"]
    # The overview and the per-person outcomes are rebuilt with the reports.
    assert AssetKey(["reporting", "audience_overview"]) in reported.materialized
    outcomes = reported.materialized[AssetKey(["reporting", "sync_member_outcomes"])]
    assert outcomes["dagster/row_count"] > 0
