"""Sensors: run an audience's syncs when dbt rebuilt the audience.

One asset sensor per audience; its run key names the materialization (the run
that rebuilt the audience and the event's timestamp), so a rebuilt audience
triggers its syncs exactly once even if a tick is evaluated twice.

Turning syncs on is deliberate: every sensor starts *stopped*, whatever the
environment holds (credentials appearing must not launch a queue of syncs), and
once a person starts it, it acts only on audience builds that happen after that
moment: builds from before it was (re)started are skipped, not replayed.
"""

from __future__ import annotations

from dagster import (
    DefaultSensorStatus,
    EventLogEntry,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    asset_sensor,
)

from orchestration.assets.catalog import Audience, load_audiences
from orchestration.schedules import audience_syncs_job


def rebuilt_run_key(asset_event: EventLogEntry) -> str:
    """One key per materialization of the audience: the dbt run that built it and when."""
    return f"{asset_event.run_id or 'runless'}:{asset_event.timestamp:.6f}"


def built_before_start(context: SensorEvaluationContext, asset_event: EventLogEntry) -> bool:
    """True when this build happened before the sensor was (re)started: no backlog.

    Dagster records when a sensor is started (the UI's toggle, `dagster sensor
    start`, and the daemon's first tick of a sensor running by default) and
    hands it to every tick as ``last_sensor_start_time``. A context without it
    (a tick evaluated outside any instance state) filters nothing.
    """
    started = context.last_sensor_start_time
    return started is not None and asset_event.timestamp < started


def audience_rebuilt_sensor(audience: Audience):
    @asset_sensor(
        asset_key=audience.asset_key,
        name=f"{audience.name}_rebuilt",
        job=audience_syncs_job(audience),
        description=(
            f"Runs the syncs of {audience.title} after dbt rebuilds it. Starts stopped; once "
            "started, only builds after that moment trigger (no backlog)."
        ),
        default_status=DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=60,
    )
    def _sensor(context: SensorEvaluationContext, asset_event: EventLogEntry):
        # The EventLogEntry handed to an asset sensor carries no storage id (the
        # framework moves the cursor past it after this function returns).
        if built_before_start(context, asset_event):
            yield SkipReason(
                f"{audience.name} was built before this sensor was started; waiting for the next build"
            )
            return
        yield RunRequest(
            run_key=rebuilt_run_key(asset_event),
            tags={"ferry/trigger": "audience_rebuilt", "ferry/audience": audience.name},
        )

    return _sensor


def build_sensors() -> list:
    return [audience_rebuilt_sensor(a) for a in load_audiences()]
