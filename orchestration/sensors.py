"""Sensors: run an audience's syncs when dbt rebuilt the audience.

One asset sensor per audience; its run key is the materialization's storage
id, so a rebuilt audience triggers its syncs exactly once. Started only when
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
        yield RunRequest(run_key=str(asset_event.storage_id), tags={"ferry/trigger": "audience_rebuilt"})

    return _sensor


def build_sensors() -> list:
    return [audience_rebuilt_sensor(a) for a in load_audiences()]
