"""Sensors: run an audience's syncs when dbt rebuilt the audience.

One asset sensor per audience; its run key names the materialization (the run
that rebuilt the audience and the event's timestamp), so a rebuilt audience
triggers its syncs exactly once even if a tick is evaluated twice. Started only when
every destination of the audience has credentials (nothing auto-sends to the
sandboxes of the embedded default).
"""

from dagster import (
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    SensorEvaluationContext,
    asset_sensor,
)

from orchestration.assets.catalog import Audience, load_audiences
from orchestration.schedules import audience_syncs_job, has_credentials


def rebuilt_run_key(asset_event: EventLogEntry) -> str:
    """One key per materialization of the audience: the dbt run that built it and when."""
    return f"{asset_event.run_id or 'runless'}:{asset_event.timestamp:.6f}"


def audience_rebuilt_sensor(audience: Audience):
    running = all(has_credentials(s.destination) for s in audience.syncs)

    @asset_sensor(
        asset_key=audience.asset_key,
        name=f"{audience.name}_rebuilt",
        job=audience_syncs_job(audience),
        description=f"Runs the syncs of {audience.title} after dbt rebuilds it.",
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=60,
    )
    def _sensor(context: SensorEvaluationContext, asset_event: EventLogEntry):
        # The EventLogEntry handed to an asset sensor carries no storage id (the
        # framework moves the cursor past it after this function returns).
        yield RunRequest(
            run_key=rebuilt_run_key(asset_event),
            tags={"ferry/trigger": "audience_rebuilt", "ferry/audience": audience.name},
        )

    return _sensor


def build_sensors() -> list:
    return [audience_rebuilt_sensor(a) for a in load_audiences()]
