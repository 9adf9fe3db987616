"""The audience-rebuilt sensors and the engagement schedule, evaluated as the daemon would.

Each sensor is ticked against a real (ephemeral) Dagster instance: no request
before the audience is built, exactly one run request of the audience's sync
job after a materialization of the audience, none on the next tick. The
schedule is ticked at a scheduled time and must request its pull job.
"""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import (
    AssetMaterialization,
    DagsterInstance,
    DefaultScheduleStatus,
    build_schedule_context,
    build_sensor_context,
)

from orchestration.assets.catalog import load_audiences
from orchestration.checks.audiences import sync_asset_key


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs as definitions

    return definitions


def _selected_keys(defs, job_name: str) -> set[str]:
    job = defs.resolve_job_def(job_name)
    return {k.to_user_string() for k in job.asset_layer.selected_asset_keys}


def _tick(sensor, instance, defs, cursor):
    return sensor.evaluate_tick(
        build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
    )


def _audience_with_most_syncs():
    return max(load_audiences(), key=lambda a: (len(a.syncs), a.name))


def test_rebuilt_audience_requests_one_run_of_its_syncs(defs):
    audience = _audience_with_most_syncs()
    sensor = defs.get_sensor_def(f"{audience.name}_rebuilt")
    with DagsterInstance.ephemeral() as instance:
        idle = _tick(sensor, instance, defs, None)
        assert idle.run_requests == [] and "No new materialization" in (idle.skip_message or "")

        instance.report_runless_asset_event(AssetMaterialization(asset_key=audience.asset_key))
        fired = _tick(sensor, instance, defs, idle.cursor)
        assert len(fired.run_requests) == 1, fired.skip_message
        request = fired.run_requests[0]
        assert request.run_key and request.tags["ferry/trigger"] == "audience_rebuilt"
        assert request.tags["ferry/audience"] == audience.name
        # The request targets the sensor's job, which syncs exactly this audience's syncs.
        assert request.job_name in (None, sensor.job_name)
        assert sensor.job_name == f"sync_all_{audience.name}"
        assert _selected_keys(defs, sensor.job_name) == {
            sync_asset_key(s).to_user_string() for s in audience.syncs
        }

        # The same materialization never triggers twice; a new build triggers again, with a new key.
        assert _tick(sensor, instance, defs, fired.cursor).run_requests == []
        instance.report_runless_asset_event(AssetMaterialization(asset_key=audience.asset_key))
        again = _tick(sensor, instance, defs, fired.cursor)
        assert len(again.run_requests) == 1 and again.run_requests[0].run_key != request.run_key


def test_a_sensor_started_after_a_build_ignores_it_and_acts_on_the_next(defs):
    """No backlog: turning a sensor on does not replay the builds made while it was off."""
    audience = _audience_with_most_syncs()
    sensor = defs.get_sensor_def(f"{audience.name}_rebuilt")
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=audience.asset_key))
        built = instance.fetch_materializations(audience.asset_key, limit=1).records[0]
        started = built.timestamp + 1.0  # a person turns the sensor on after that build

        def tick(cursor):
            context = build_sensor_context(
                instance=instance, definitions=defs, cursor=cursor, last_sensor_start_time=started
            )
            return sensor.evaluate_tick(context)

        first = tick(None)
        assert first.run_requests == [] and "before this sensor was started" in first.skip_message
        assert first.cursor is not None  # moved past the old build: it never fires later
        assert tick(first.cursor).run_requests == []

        # A build after the start: the builds' timestamps come from the instance's clock,
        # so the start time is moved back instead of waiting for the clock.
        started = built.timestamp
        instance.report_runless_asset_event(AssetMaterialization(asset_key=audience.asset_key))
        fired = tick(first.cursor)
        assert len(fired.run_requests) == 1, fired.skip_message


def test_other_audiences_builds_do_not_trigger_a_sensor(defs):
    audiences = load_audiences()
    watched, other = audiences[0], audiences[1]
    sensor = defs.get_sensor_def(f"{watched.name}_rebuilt")
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(AssetMaterialization(asset_key=other.asset_key))
        assert _tick(sensor, instance, defs, None).run_requests == []


def test_every_audience_has_a_sensor_on_its_own_asset(defs):
    for audience in load_audiences():
        sensor = defs.get_sensor_def(f"{audience.name}_rebuilt")
        assert sensor.asset_key == audience.asset_key
        assert sensor.job_name == f"sync_all_{audience.name}"


def test_engagement_schedule_requests_the_pull_of_every_engagement_asset(defs):
    from orchestration.main_job import phase_keys

    schedule = defs.get_schedule_def("pull_engagement_hourly")
    assert schedule.cron_schedule == "15 * * * *"
    assert (
        schedule.default_status == DefaultScheduleStatus.STOPPED
    )  # embedded default: nothing runs alone
    at = dt.datetime(2026, 11, 20, 10, 15, tzinfo=dt.UTC)
    result = schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=at))
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.job_name in (None, schedule.job_name)
    assert request.tags["dagster/schedule_name"] == "pull_engagement_hourly"
    engagement = {k.to_user_string() for k in phase_keys(defs)["engagement"]}
    assert engagement and _selected_keys(defs, schedule.job_name) == engagement
    # Ticks fall at a quarter past every hour.
    from dagster._utils.schedules import cron_string_iterator

    ticks = cron_string_iterator(
        at.timestamp(), schedule.cron_schedule, schedule.execution_timezone or "UTC"
    )
    assert [next(ticks).strftime("%H:%M") for _ in range(3)] == ["10:15", "11:15", "12:15"]
