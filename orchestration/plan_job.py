"""A marketer's actions on a sync beyond "sync now": preview by name, confirm a stopped sync.

- ``plan_sync``: preview (dry run) of one sync picked from a list (`ferry plan-job`
  runs it headless). The sync name is an Enum in the launchpad, so a typo cannot
  launch. It runs the audience's gate (reported, not blocking: a preview is for
  looking) and the engine's plan: counts of adds, updates, removes, held back by
  reason and a masked sample. Nothing is sent and nothing is committed. The
  preview is recorded as an observation on the sync asset, so it shows on the
  asset's page. (The same preview is one click away on each sync's asset page:
  its `preview` check.)
- ``confirm_<sync>``: one per sync, the sync with ``confirm: true`` already set.
  A run the engine stopped for a human (removals over the share, an empty
  audience, below the destination's floor) goes ahead with one "Launch run".
"""

from enum import Enum

from dagster import AssetObservation, Config, OpExecutionContext, Output, define_asset_job, job, op

from orchestration.assets.catalog import load_audiences


def _sync_names() -> list[str]:
    return [s.name for a in load_audiences() for s in a.syncs]


# The launchpad lists these names; anything else fails config validation before a run starts.
SyncName = Enum("SyncName", {name: name for name in _sync_names()} or {"none_declared": "none_declared"})


class PlanSyncConfig(Config):
    sync: SyncName


@op(required_resource_keys={"warehouse"})
def plan_one_sync(context: OpExecutionContext, config: PlanSyncConfig):
    from orchestration.assets.sync_runner import run_sync
    from orchestration.assets.syncs import plan_metadata
    from orchestration.checks.audiences import (
        evaluate_audience,
        gate_metadata,
        previous_synced_size,
        sync_asset_key,
    )

    name = config.sync.value if isinstance(config.sync, Enum) else str(config.sync)
    audience, sync = next((a, s) for a in load_audiences() for s in a.syncs if s.name == name)
    with context.resources.warehouse.connect() as conn:
        gate = evaluate_audience(conn, audience, previous_synced_size(context.instance, audience))
        report = run_sync(conn, sync, dry_run=True, log=context.log)
    metadata = {**plan_metadata(report), **gate_metadata(gate), "gate_passed": gate.passed}
    yield AssetObservation(asset_key=sync_asset_key(sync), metadata={"preview": "sends nothing", **metadata})
    yield Output(None, metadata=metadata)


def build_plan_job():
    names = _sync_names()

    @job(
        name="plan_sync",
        description="Preview one sync (sends nothing): who would be added, updated, removed and held back, "
        "with a masked sample. Pick the sync from the list.",
        config={"ops": {"plan_one_sync": {"config": {"sync": names[0]}}}} if names else None,
        tags={"ferry/dry_run": "true"},
    )
    def plan_sync():
        plan_one_sync()

    return plan_sync


def build_confirm_jobs() -> list:
    """One job per sync that runs it with `confirm: true`: confirming a stopped sync is one launch."""
    from orchestration.assets.syncs import SYNC_TAG, confirm_job_name, sync_selection
    from orchestration.checks.audiences import sync_asset_key

    jobs = []
    for audience in load_audiences():
        for sync in audience.syncs:
            op_name = "__".join(sync_asset_key(sync).path)
            jobs.append(
                define_asset_job(
                    confirm_job_name(sync),
                    selection=sync_selection([sync]),
                    description=(
                        f"Confirm and sync {audience.title} to {sync.destination_name} after a safety stop "
                        "(read the stop reason on the sync's page first)."
                    ),
                    config={"ops": {op_name: {"config": {"confirm": True}}}},
                    tags={SYNC_TAG: sync.name, "ferry/confirmed": "true"},
                )
            )
    return jobs
