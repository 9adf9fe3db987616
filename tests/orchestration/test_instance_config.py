"""The project's dagster.yaml, installed in a fresh DAGSTER_HOME and loaded as Dagster would.

Not a YAML read: the instance is built by ``DagsterInstance.get()`` from the
file that ``prepare_dagster_home`` copies (what ``ferry ui``/``ferry demo`` do),
and each setting is exercised through the code Dagster's daemons run: the
auto-retry decision, the run queue's tag limits and the op pools' slots.
"""

from __future__ import annotations

import os
import uuid

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, ROOT_RUN_ID_TAG
from dagster._utils.tags import TagConcurrencyLimitsCounter

from orchestration.assets.catalog import load_sync_configs
from orchestration.assets.syncs import DESTINATION_TAG, sync_pool
from orchestration.instance import PROJECT_DAGSTER_YAML, prepare_dagster_home


@pytest.fixture
def instance(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    home = prepare_dagster_home()
    assert (home / "dagster.yaml").read_bytes() == PROJECT_DAGSTER_YAML.read_bytes()
    assert os.environ["DAGSTER_HOME"] == str(home)
    with DagsterInstance.get() as loaded:
        assert not loaded.is_ephemeral and loaded.root_directory == str(home)
        yield loaded


@pytest.fixture(scope="module")
def defs():
    from orchestration.definitions import defs as definitions

    return definitions


def _run(
    instance, status=DagsterRunStatus.FAILURE, tags=None, root: str | None = None
) -> DagsterRun:
    """A run record as the run launcher leaves it; ``root`` makes it a re-execution of that run."""
    tags = dict(tags or {})
    if root:
        tags.update({ROOT_RUN_ID_TAG: root, PARENT_RUN_ID_TAG: root})
    return instance.add_run(
        DagsterRun(
            job_name="sync_x",
            run_id=str(uuid.uuid4()),
            status=status,
            tags=tags,
            root_run_id=root,
            parent_run_id=root,
        )
    )


def test_run_retries_are_on_for_transient_failures_only(instance):
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False

    # A run that died for a transient reason (worker lost, run exception) is retried...
    crashed = _run(instance)
    assert auto_reexecution_should_retry_run(instance, crashed, RunFailureReason.RUN_EXCEPTION)
    # ...at most twice: the original and two retries exhaust the group.
    first = _run(instance, root=crashed.run_id)
    assert auto_reexecution_should_retry_run(instance, first, RunFailureReason.RUN_EXCEPTION)
    second = _run(instance, root=crashed.run_id)
    assert not auto_reexecution_should_retry_run(instance, second, RunFailureReason.RUN_EXCEPTION)
    # A step failure (a failed gate, a refused sync) is not retried as a run: the step has its own policy.
    gate = _run(instance)
    assert not auto_reexecution_should_retry_run(instance, gate, RunFailureReason.STEP_FAILURE)
    assert not auto_reexecution_should_retry_run(
        instance, _run(instance, DagsterRunStatus.SUCCESS), None
    )


def test_run_queue_allows_one_run_per_destination(instance, defs):
    from orchestration.schedules import sync_job_name

    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None and queue.max_concurrent_runs == 1
    limits = [dict(limit) for limit in queue.tag_concurrency_limits]
    assert {
        "key": DESTINATION_TAG,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    } in limits

    syncs = list(load_sync_configs())
    by_destination: dict[str, list] = {}
    for sync in syncs:
        by_destination.setdefault(sync.destination_name, []).append(sync)
    shared = next(s for s in by_destination.values() if len(s) > 1)  # two syncs, one destination
    other = next(s[0] for name, s in by_destination.items() if name != shared[0].destination_name)

    def job_run(sync) -> DagsterRun:
        tags = defs.resolve_job_def(
            sync_job_name(sync)
        ).tags  # the tags the UI/schedule launch with
        assert tags[DESTINATION_TAG] == sync.destination_name
        return _run(instance, DagsterRunStatus.STARTED, tags=tags)

    running = job_run(shared[0])
    counter = TagConcurrencyLimitsCounter(limits, [running])
    assert counter.is_blocked(job_run(shared[1])), "a second run to the same destination must wait"
    assert not counter.is_blocked(job_run(other)), (
        "another destination is not held back by the tag limit"
    )
    # A sensor-launched run of a one-destination audience waits behind a sync to that destination too.
    from orchestration.assets.catalog import load_audiences

    audience = next(
        a
        for a in load_audiences()
        if {s.destination_name for s in a.syncs} == {shared[0].destination_name}
    )
    sensor_tags = defs.resolve_job_def(f"sync_all_{audience.name}").tags
    assert counter.is_blocked(_run(instance, DagsterRunStatus.NOT_STARTED, tags=sensor_tags))


def test_sync_pools_hold_one_step_per_destination(instance, defs):
    assert instance.event_log_storage.supports_global_concurrency_limits
    config = instance.get_concurrency_config().pool_config
    assert config.default_pool_limit == 1 and config.pool_granularity.value == "op"

    sync = next(iter(load_sync_configs()))
    pool = sync_pool(sync)
    from orchestration.checks.audiences import sync_asset_key

    assert defs.resolve_assets_def(sync_asset_key(sync)).op.pool == pool

    storage = instance.event_log_storage
    # What the step executor does on a pool's first use: apply dagster.yaml's default limit.
    assert storage.initialize_concurrency_limit_to_default(pool)
    assert storage.get_concurrency_info(pool).slot_count == 1
    first_run = str(uuid.uuid4())
    first = storage.claim_concurrency_slot(pool, first_run, "step_a")
    assert first.is_claimed
    second_run = str(uuid.uuid4())
    second = storage.claim_concurrency_slot(pool, second_run, "step_b")
    assert not second.is_claimed, "the destination's pool has one slot: the second step waits"
    storage.free_concurrency_slots_for_run(first_run)
    assert storage.claim_concurrency_slot(pool, second_run, "step_b").is_claimed
    # Another destination has its own pool: not held back by this one.
    other = next(s for s in load_sync_configs() if s.destination_name != sync.destination_name)
    assert storage.initialize_concurrency_limit_to_default(sync_pool(other))
    assert storage.claim_concurrency_slot(sync_pool(other), str(uuid.uuid4()), "step_c").is_claimed
