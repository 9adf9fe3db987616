"""kill -9 while several batches are in flight: nothing lost, nothing twice, re-runs converge.

A mirror sync to the webhook reference receiver, four batches in flight at once
(the first four wait for each other at the receiver, so the kill provably strikes
a concurrent run), killed with SIGKILL at a seeded request, before or after the
receiver applied it. Then the audience changes (some leave, some join) and a
second run is killed the same way. After runs without faults converge, the
receiver holds exactly the audience, each member with its latest payload, and no
batch was applied twice by Ferry's doing (the receiver counts duplicate batch ids).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.webhook.sandbox import WebhookReceiver
from syncs.config import DestinationSpec, FieldMapping, Policies, SyncConfig
from tests.faults.harness import Child, KillPoint, change_audience, sms_warehouse

MEMBERS = 60
BATCH = 5
IN_FLIGHT = 4
SECRET = "fault-secret-0123456789"
DEFAULT_TRIALS = 3
SLOW_TRIALS = 20


def _sync() -> SyncConfig:
    return SyncConfig(
        name="aud_sms__webhook",
        audience="aud_sms",
        schema_name="audiences",
        table="aud_sms",
        destination_name="webhook",
        destination=DestinationSpec(type="webhook"),
        mode="mirror",
        channel="email",
        identifiers={"email": "email"},
        fields={"first_name": FieldMapping(column="first_name")},
        policies=Policies(max_removal_share=1.0),
    )


def _destination(receiver: WebhookReceiver, batch: int = BATCH) -> dict[str, Any]:
    options = {
        "url": receiver.url(),
        "secret": SECRET,
        "max_batch_records": batch,
        "max_concurrency": IN_FLIGHT,
        "max_requests_per_second": None,
        "timeout": 10,
        "max_attempts": 1,
    }
    return {"type": "webhook", "options": options}


def _audience(db: Path) -> dict[str, str]:
    conn = duckdb.connect(str(db))
    try:
        return dict(conn.execute("select profile_id, first_name from audiences.aud_sms").fetchall())
    finally:
        conn.close()


def _change(db: Path) -> None:
    """A third of the members leave, ten join, the rest get a new first name."""
    change_audience(db, leave_below="p20", joining=10)


def _received(receiver: WebhookReceiver) -> dict[str, str]:
    return {key: payload.get("first_name") for key, payload in receiver.state.records.items()}


def _trial(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    with WebhookReceiver(secret=SECRET) as receiver:
        db = tmp_path / f"webhook-{seed}.duckdb"
        sms_warehouse(
            db,
            [(f"p{i:02d}", f"+3361000{i:04d}", f"Name{i}", "2026-12-01") for i in range(MEMBERS)],
        )
        child = Child(receiver, db, _sync(), _destination(receiver), gate=IN_FLIGHT)
        for wave in ("first sync", "changed audience"):
            if wave == "changed audience":
                _change(db)
            batches = -(-len(_audience(db)) // BATCH)
            kill = KillPoint(
                "/hooks/",
                nth=rng.randint(1, min(batches, 2 * IN_FLIGHT)),
                phase=rng.choice(["before", "after"]),
            )
            assert child.run(kill) is None, (wave, kill, "the kill point was never reached")
            assert child.most_in_flight == IN_FLIGHT, (wave, kill, child.most_in_flight)
            child.converge()
            assert _received(receiver) == _audience(db), (wave, kill)
        assert receiver.state.duplicates == 0
        assert child.run()["sent"] == 0  # converged: nothing left to send


@pytest.mark.parametrize("seed", range(1, DEFAULT_TRIALS + 1))
def test_a_concurrent_run_killed_loses_nothing_and_converges(tmp_path: Path, seed: int) -> None:
    _trial(tmp_path, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 100 + SLOW_TRIALS))
def test_a_concurrent_run_killed_many_trials(tmp_path: Path, seed: int) -> None:
    _trial(tmp_path, seed)


def _written_ahead(db: Path) -> int:
    """Rows in the killed run's write-ahead tables (syncs.write_ahead_windows)."""
    conn = duckdb.connect(str(db))
    try:
        tables = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_name like 'pending_%'"
        ).fetchall()
        return sum(conn.execute(f"select count(*) from {t}").fetchone()[0] for (t,) in tables)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("nth", "phase", "at_most"), [(1, "before", 24), (2, "after", 56), (5, "after", 56)]
)
def test_a_kill_between_write_ahead_windows_loses_nothing(
    tmp_path: Path, nth: int, phase: str, at_most: int
) -> None:
    """Killed while later write-ahead windows are still to be written: batches of 2, four in
    flight, so the windows are plan rows [0, 8), [8, 24), [24, 56), [56, 60), and the window
    after the one being sent is written meanwhile (never two ahead; batches settle in order).
    Killed before the first request was applied, batch 5 (window 2) never left: at most
    windows 1-2 are written ahead; killed after the 2nd or 5th was applied, at most 8
    requests left, window 4 never: written ahead covers every request that left and less
    than the 60 adds. The next runs converge, nothing lost or sent twice."""
    with WebhookReceiver(secret=SECRET) as receiver:
        db = tmp_path / "windows.duckdb"
        sms_warehouse(
            db,
            [(f"p{i:02d}", f"+3361000{i:04d}", f"Name{i}", "2026-12-01") for i in range(MEMBERS)],
        )
        child = Child(receiver, db, _sync(), _destination(receiver, batch=2), gate=IN_FLIGHT)
        assert child.run(KillPoint("/hooks/", nth=nth, phase=phase)) is None
        assert child.most_in_flight == IN_FLIGHT
        written = _written_ahead(db)
        assert 2 * max(nth, IN_FLIGHT) <= written <= at_most < MEMBERS, written
        child.converge()
        assert _received(receiver) == _audience(db)
        assert receiver.state.duplicates == 0
        assert _written_ahead(db) == 0  # the converged run folded and dropped every window
        assert child.run()["sent"] == 0
