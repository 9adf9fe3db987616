"""Jobs and schedules: one job per sync (its cron from the audience's `meta`),
a warehouse build, engagement pulls and the whole loop.

Every schedule starts *stopped*: turning a sync on is a person's decision in the
Dagster UI (Automation), never a side effect of credentials appearing in the
environment. Nothing sends on its own until someone starts its schedule.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    define_asset_job,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.assets.catalog import Audience, load_audiences
from orchestration.assets.syncs import DESTINATION_TAG, SYNC_TAG, schedule_words, sync_selection


def sync_job_name(sync: Any) -> str:
    return f"sync_{sync.name}"


_JOBS: dict[str, UnresolvedAssetJobDefinition] = {}


def _once(job: UnresolvedAssetJobDefinition) -> UnresolvedAssetJobDefinition:
    """One job object per name, so the schedules and sensors that share a job agree."""
    return _JOBS.setdefault(job.name, job)


def sync_job(sync: Any) -> UnresolvedAssetJobDefinition:
    return _once(
        define_asset_job(
            sync_job_name(sync),
            selection=sync_selection([sync]),
            description=f"Sync now: {sync.audience} to {sync.destination_name} ({sync.mode}).",
            tags={DESTINATION_TAG: sync.destination_name, SYNC_TAG: sync.name},
        )
    )


def audience_syncs_job(audience: Audience) -> UnresolvedAssetJobDefinition:
    """Every sync of one audience (what its rebuilt sensor launches).

    An audience syncing to one destination carries that destination's run tag, so
    the run queue's per-destination limit (dagster.yaml) also holds its
    sensor-launched runs back behind a running sync to the same destination;
    with several destinations, the per-destination pools serialise the steps.
    """
    destinations = {s.destination_name for s in audience.syncs}
    return _once(
        define_asset_job(
            f"sync_all_{audience.name}",
            selection=sync_selection(list(audience.syncs)),
            description=f"Every sync of audience {audience.title}, run when the audience is rebuilt.",
            tags={DESTINATION_TAG: destinations.pop()} if len(destinations) == 1 else None,
        )
    )


def build_jobs_and_schedules(engagement_keys: list[AssetKey]) -> tuple[list, list]:
    jobs: list = []
    schedules: list = []
    for audience in load_audiences():
        jobs.append(audience_syncs_job(audience))
        for sync in audience.syncs:
            job = sync_job(sync)
            jobs.append(job)
            if sync.schedule:
                schedules.append(
                    ScheduleDefinition(
                        name=f"{sync.name}_schedule",
                        job=job,
                        cron_schedule=sync.schedule,
                        execution_timezone=os.environ.get("FERRY_TIMEZONE", "UTC"),
                        description=(
                            f"Sync now: {sync.audience} to {sync.destination_name}, {schedule_words(sync)} "
                            "(starts stopped: turn it on here once the destination is ready)"
                        ),
                        default_status=DefaultScheduleStatus.STOPPED,
                    )
                )
    warehouse = define_asset_job(
        "build_warehouse",
        selection=AssetSelection.groups(
            "staging", "identity", "profiles", "scores", "audiences", "reporting"
        ),
        description="dbt build of every model and its checks (no syncs).",
    )
    jobs.append(warehouse)
    schedules.append(
        ScheduleDefinition(
            name="build_warehouse_daily",
            job=warehouse,
            cron_schedule=os.environ.get("FERRY_BUILD_CRON", "0 5 * * *"),
            description="Rebuild profiles, scores and audiences every morning (syncs follow via the sensor).",
            default_status=DefaultScheduleStatus.STOPPED,
        )
    )
    if engagement_keys:
        pull = define_asset_job(
            "pull_engagement",
            selection=AssetSelection.assets(*engagement_keys),
            description="Pull engagement (deliveries, opens, clicks, bounces, opt-outs) back from every tool.",
        )
        jobs.append(pull)
        schedules.append(
            ScheduleDefinition(
                name="pull_engagement_hourly",
                job=pull,
                cron_schedule=os.environ.get("FERRY_ENGAGEMENT_CRON", "15 * * * *"),
                description="Hourly engagement pull-back (stopped on embedded defaults).",
                default_status=DefaultScheduleStatus.STOPPED,
            )
        )
    return jobs, schedules
