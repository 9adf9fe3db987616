"""The dry-run plan job a marketer launches from the launchpad (`ferry plan-job` runs it headless).

Config names the sync (``sync: aud_win_back__sendgrid_marketing``). The job
runs the audience's gate (reported, not blocking: a plan is for looking) and
the engine's plan: counts of adds, updates, removes, suppressed by reason and a
masked sample. Nothing is sent and nothing is committed. The plan is recorded
as an observation on the sync asset, so it shows on the asset's page.
"""

from dagster import AssetObservation, Config, Failure, OpExecutionContext, Output, job, op

from orchestration.assets.catalog import load_audiences


def _sync_names() -> list[str]:
    return [s.name for a in load_audiences() for s in a.syncs]


class PlanSyncConfig(Config):
    sync: str = ""  # one of the sync names (see the job description)


@op(required_resource_keys={"warehouse"})
def plan_one_sync(context: OpExecutionContext, config: PlanSyncConfig):
    from orchestration.assets.sync_runner import run_sync
    from orchestration.assets.syncs import report_metadata
    from orchestration.checks.audiences import (
        evaluate_audience,
        gate_metadata,
        previous_synced_size,
        sync_asset_key,
    )

    found = [(a, s) for a in load_audiences() for s in a.syncs if s.name == config.sync]
    if not found:
        raise Failure(description=f"no sync named {config.sync!r}; known: {', '.join(_sync_names()) or 'none'}")
    audience, sync = found[0]
    with context.resources.warehouse.connect() as conn:
        gate = evaluate_audience(conn, audience, previous_synced_size(context.instance, audience))
        report = run_sync(conn, sync, dry_run=True, log=context.log)
    metadata = {**report_metadata(report, 0.0), **gate_metadata(gate), "gate_passed": gate.passed}
    metadata.pop("duration_seconds", None)
    if report.message:
        metadata["would_stop"] = report.message
    yield AssetObservation(asset_key=sync_asset_key(sync), metadata={"plan": "dry run", **metadata})
    yield Output(None, metadata=metadata)


def build_plan_job():
    names = _sync_names()
    default = names[0] if names else ""

    @job(
        name="plan_sync",
        description=(
            "Dry run of one sync: what would be added, updated, removed and suppressed, with a masked "
            "sample. Sends nothing. Set `sync` to one of: " + (", ".join(names) or "(no syncs declared)")
        ),
        config={"ops": {"plan_one_sync": {"config": {"sync": default}}}},
        tags={"ferry/dry_run": "true"},
    )
    def plan_sync():
        plan_one_sync()

    return plan_sync
