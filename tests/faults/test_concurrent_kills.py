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
from tests.faults.harness import Child, KillPoint, sms_warehouse

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


def _destination(receiver: WebhookReceiver) -> dict[str, Any]:
    options = {
        "url": receiver.url(),
        "secret": SECRET,
        "max_batch_records": BATCH,
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
    conn = duckdb.connect(str(db))
    try:
        conn.execute("delete from audiences.aud_sms where profile_id < 'p20'")
        conn.execute("update audiences.aud_sms set first_name = first_name || '-v2'")
        conn.execute(
            "insert into audiences.aud_sms select 'q' || lpad(i::varchar, 2, '0'), "
            "'+3362000' || lpad(i::varchar, 4, '0'), 'q' || i || '@example.com', 'New' || i, "
            "'treatment', '2026-12-01' from range(10) t(i)"
        )
        conn.execute(
            "insert into marts.customer_consent select profile_id, 'email', true, 'test', null "
            "from audiences.aud_sms where profile_id like 'q%'"
        )
    finally:
        conn.close()


def _received(receiver: WebhookReceiver) -> dict[str, str]:
    return {key: payload.get("first_name") for key, payload in receiver.state.records.items()}


def _trial(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    with WebhookReceiver(secret=SECRET) as receiver:
        db = tmp_path / f"webhook-{seed}.duckdb"
        sms_warehouse(
            db, [(f"p{i:02d}", f"+3361000{i:04d}", f"Name{i}", "2026-12-01") for i in range(MEMBERS)]
        )
        child = Child(receiver, db, _sync(), _destination(receiver), gate=IN_FLIGHT)
        for wave in ("first sync", "changed audience"):
            if wave == "changed audience":
                _change(db)
            batches = -(-len(_audience(db)) // BATCH)
            kill = KillPoint(
                "/hooks/", nth=rng.randint(1, min(batches, 2 * IN_FLIGHT)), phase=rng.choice(["before", "after"])
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
