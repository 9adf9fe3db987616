"""The fault harness: a sync run in a child process, killed with SIGKILL at chosen requests.

Counts are read from the vendor's side (the sandbox's own message log), never from
Ferry's state: a trial passes when every member got exactly the messages it should
after the runs converge, whatever Ferry's ledger says.

A kill is armed as "the k-th request to this path, before or after the vendor
processed it": the sandbox's request hook sends SIGKILL to the child while the
child waits for that answer. Before = the request never took effect; after = it
did and the answer is lost with the process. Points are drawn from a seeded RNG.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from connectors.sandbox import Request, SandboxServer
from syncs.config import DestinationSpec, FieldMapping, Policies, SyncConfig

REPO = Path(__file__).resolve().parents[2]


@dataclass
class KillPoint:
    """Kill the child at the `nth` request matching `path` (1-based), `phase` before|after."""

    path: str
    nth: int
    phase: str = "after"


@dataclass
class Child:
    """Runs `tests.faults.child` and kills it when the sandbox sees the armed request."""

    sandbox: SandboxServer
    db: Path
    sync: SyncConfig
    destination: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    # The first `gate` requests to the kill point's path wait for each other (before the
    # vendor processes them), so that many are provably in flight at once when it strikes.
    gate: int = 0
    most_in_flight: int = 0  # requests to that path in flight at once, at most, in the last run

    def run(self, kill: KillPoint | None = None, timeout: float = 300.0) -> dict[str, Any] | None:
        """One run; None when it was killed. Raises if it failed otherwise."""
        cmd = [
            sys.executable,
            "-m",
            "tests.faults.child",
            str(self.db),
            self.sync.model_dump_json(by_alias=True),
            json.dumps(self.destination),
        ]
        env = {**os.environ, **self.env}
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        killed = threading.Event()
        if kill is not None:
            pattern = re.compile(kill.path)
            seen = [0]
            lock = threading.Lock()
            gate = threading.Barrier(self.gate, timeout=60) if self.gate > 1 else None
            started = [0]
            flight = [0]
            self.most_in_flight = 0

            def hook(request: Request, phase: str) -> None:
                if not pattern.search(request.path) or request.method == "GET":
                    return
                if phase == "before":
                    with lock:
                        started[0] += 1
                        flight[0] += 1
                        self.most_in_flight = max(self.most_in_flight, flight[0])
                        wait = gate is not None and started[0] <= self.gate
                    if wait:
                        gate.wait()
                if phase == kill.phase:
                    with lock:
                        seen[0] += 1
                        hit = seen[0] == kill.nth
                    if hit and not killed.is_set():
                        killed.set()
                        os.kill(proc.pid, signal.SIGKILL)
                if phase == "after":
                    with lock:
                        flight[0] -= 1

            self.sandbox.on_request = hook
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            self.sandbox.on_request = None
        if killed.is_set():
            assert proc.returncode == -signal.SIGKILL, (proc.returncode, err[-2000:])
            return None
        assert proc.returncode == 0, err[-4000:]
        return json.loads(out.strip().splitlines()[-1])

    def converge(self, max_runs: int = 5) -> list[dict[str, Any]]:
        """Run without faults until a run succeeds (at most `max_runs`)."""
        results = []
        for _ in range(max_runs):
            result = self.run()
            assert result is not None
            results.append(result)
            if result["status"] == "success":
                return results
        raise AssertionError(f"did not converge in {max_runs} runs: {results}")


def send_sync(
    destination_type: str,
    channel: str,
    identifiers: dict[str, str],
    name: str | None = None,
) -> SyncConfig:
    """A send-mode sync of `sms_warehouse`'s audience: one message per member per wave."""
    return SyncConfig(
        name=name or f"aud_sms__{destination_type}",
        audience="aud_sms",
        schema_name="audiences",
        table="aud_sms",
        destination_name=destination_type,
        destination=DestinationSpec(type=destination_type),
        mode="send",
        channel=channel,
        identifiers=identifiers,
        fields={"first_name": FieldMapping(column="first_name")},
        policies=Policies(max_removal_share=1.0),
        occurrence="entered_at",
    )


def sms_warehouse(db: Path, members: list[tuple[str, str, str, str]]) -> None:
    """An SMS audience (profile_id, phone, first_name, entered_at) with consent for every member."""
    conn = duckdb.connect(str(db))
    try:
        conn.execute("create schema if not exists audiences")
        conn.execute("create schema if not exists marts")
        conn.execute(
            "create or replace table audiences.aud_sms (profile_id varchar, phone varchar, "
            "email varchar, first_name varchar, variant varchar, entered_at varchar)"
        )
        conn.executemany(
            "insert into audiences.aud_sms values (?, ?, ?, ?, 'treatment', ?)",
            [(p, phone, f"{p}@example.com", name, at) for p, phone, name, at in members],
        )
        conn.execute(
            "create or replace table marts.customer_consent (profile_id varchar, channel varchar, "
            "is_consented boolean, consent_source varchar, consent_changed_at timestamp)"
        )
        conn.execute(
            "insert into marts.customer_consent select profile_id, c, true, 'test', null "
            "from audiences.aud_sms, (values ('sms'), ('email')) t(c)"
        )
        conn.execute(
            "create or replace table marts.customer_suppressions (profile_id varchar, channel varchar, "
            "reason varchar, suppressed_at timestamp)"
        )
    finally:
        conn.close()


def set_wave(db: Path, entered_at: str) -> None:
    """A new wave: every member enters again (a new occurrence: one message each)."""
    conn = duckdb.connect(str(db))
    try:
        conn.execute("update audiences.aud_sms set entered_at = ?", [entered_at])
    finally:
        conn.close()


def change_audience(db: Path, leave_below: str, joining: int) -> None:
    """Members whose profile_id sorts before `leave_below` leave, `joining` new ones (q00,
    q01...) join with email consent, and the rest get a new first name."""
    conn = duckdb.connect(str(db))
    try:
        conn.execute("delete from audiences.aud_sms where profile_id < ?", [leave_below])
        conn.execute("update audiences.aud_sms set first_name = first_name || '-v2'")
        conn.execute(
            "insert into audiences.aud_sms select 'q' || lpad(i::varchar, 2, '0'), "
            "'+3362000' || lpad(i::varchar, 4, '0'), 'q' || i || '@example.com', 'New' || i, "
            f"'treatment', '2026-12-01' from range({int(joining)}) t(i)"
        )
        conn.execute(
            "insert into marts.customer_consent select profile_id, 'email', true, 'test', null "
            "from audiences.aud_sms where profile_id like 'q%'"
        )
    finally:
        conn.close()
