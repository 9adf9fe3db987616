"""The one Dagster entry point: `dagster dev -w workspace.yaml` and `ferry demo` load this.

Every concern lives in its own module and hands its definitions here: dbt
models (assets/dbt.py), syncs generated from the manifest (assets/syncs.py),
engagement pulls (assets/engagement.py), Great Expectations gates (checks/),
schedules, sensors, the dry-run plan job and run-failure notifications.

Runs execute in one process by default: the embedded warehouse is one DuckDB
file, which allows one writing process at a time.
"""

from dagster import Definitions, in_process_executor

from orchestration.assets.audience_overview import audience_overview
from orchestration.assets.dbt import ferry_dbt_models
from orchestration.assets.engagement import build_engagement_assets
from orchestration.assets.member_outcomes import sync_member_outcomes
from orchestration.assets.syncs import build_preview_checks, build_sync_assets
from orchestration.checks.audiences import build_audience_checks
from orchestration.checks.profiles import build_profile_checks
from orchestration.checks.sync_declarations import build_sync_declaration_checks
from orchestration.main_job import build_main_jobs
from orchestration.notifications import notify_on_run_failure
from orchestration.plan_job import build_confirm_jobs, build_plan_job
from orchestration.resources import build_resources
from orchestration.schedules import build_jobs_and_schedules
from orchestration.sensors import build_sensors


def build_definitions() -> Definitions:
    engagement = build_engagement_assets()
    engagement_keys = [key for a in engagement for key in a.keys]
    jobs, schedules = build_jobs_and_schedules(engagement_keys)
    return Definitions(
        assets=[ferry_dbt_models, *build_sync_assets(), *engagement, sync_member_outcomes, audience_overview],
        asset_checks=[
            *build_profile_checks(),
            *build_audience_checks(),
            *build_sync_declaration_checks(),
            *build_preview_checks(),
        ],
        jobs=[*jobs, *build_main_jobs(), build_plan_job(), *build_confirm_jobs()],
        schedules=schedules,
        sensors=[*build_sensors(), notify_on_run_failure],
        resources=build_resources(),
        executor=in_process_executor,
    )


defs = build_definitions()
