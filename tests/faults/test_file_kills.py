"""kill -9 while a sync writes the file export: the latest file converges to the audience.

The file export journals each accepted batch as a part and folds the parts into
the latest file when the run ends (connectors/file/destination.py). The child
process kills itself with SIGKILL at a seeded write: a batch's part (before or
after it lands, two batches in flight), the run file or the latest file of the
fold. After runs without faults, the latest file holds exactly the audience, each
member once with its latest values, and nothing is left pending; then the
audience changes and a second run is killed the same way.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from syncs.config import DestinationSpec, FieldMapping, Policies, SyncConfig
from tests.faults.file_child import KILL_ENV
from tests.faults.harness import REPO, change_audience, sms_warehouse

MEMBERS = 40
BATCH = 3
IN_FLIGHT = 2
DEFAULT_TRIALS = 2
SLOW_TRIALS = 20
NAME = "aud_sms__file"


def _sync() -> SyncConfig:
    return SyncConfig(
        name=NAME, audience="aud_sms", schema_name="audiences", table="aud_sms",
        destination_name="file", destination=DestinationSpec(type="file"), mode="mirror",
        channel="email", identifiers={"email": "email"},
        fields={"first_name": FieldMapping(column="first_name")},
        policies=Policies(max_removal_share=1.0),
    )  # fmt: skip


def _run(db: Path, out: Path, kill: str | None) -> dict[str, Any] | None:
    """One run in a child process; None when it killed itself at `kill`."""
    destination = {"type": "file", "options": {"path": str(out), "format": "csv", "sync": NAME,
                                               "max_batch_records": BATCH, "max_concurrency": IN_FLIGHT}}  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    if kill:
        env[KILL_ENV] = kill
    proc = subprocess.run(
        [sys.executable, "-m", "tests.faults.file_child", str(db), _sync().model_dump_json(by_alias=True),
         json.dumps(destination)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if kill and proc.returncode == -signal.SIGKILL:
        return None
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _audience(db: Path) -> dict[str, str]:
    conn = duckdb.connect(str(db))
    try:
        return dict(conn.execute("select profile_id, first_name from audiences.aud_sms").fetchall())
    finally:
        conn.close()


def _latest(out: Path) -> list[tuple[str, str]]:
    path = out / f"export__{NAME}_latest.csv"
    with open(path, newline="", encoding="utf-8") as fh:
        return [(row["key"], row["first_name"]) for row in csv.DictReader(fh)]


def _change(db: Path) -> None:
    """A quarter of the members leave, five join, the rest get a new first name."""
    change_audience(db, leave_below="p10", joining=5)


def _trial(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    db, out = tmp_path / f"file-{seed}.duckdb", tmp_path / f"out-{seed}"
    sms_warehouse(db, [(f"p{i:02d}", f"+3361000{i:04d}", f"Name{i}", "2026-12-01") for i in range(MEMBERS)])
    for wave in ("first sync", "changed audience"):
        if wave == "changed audience":
            _change(db)
        parts = -(-len(_audience(db)) // BATCH)
        # the first wave is killed at a batch, the second during the fold (or the other way)
        at_part = (wave == "first sync") == (seed % 2 == 1)
        kill = (f"part:{rng.randint(1, parts)}:{rng.choice(['before', 'after'])}" if at_part
                else f"{rng.choice(['run', 'latest'])}:1:{rng.choice(['before', 'after'])}")  # fmt: skip
        assert _run(db, out, kill) is None, (wave, kill, "the kill point was never reached")
        for _ in range(3):
            result = _run(db, out, None)
            if result["status"] == "success":
                break
        assert result["status"] == "success", (wave, kill, result)
        latest = _latest(out)
        assert len(latest) == len({key for key, _ in latest}), (wave, kill, "a member held twice")
        assert dict(latest) == _audience(db), (wave, kill)
        assert not list((out / ".pending").rglob("*.arrow")), (wave, kill)
    assert _run(db, out, None)["sent"] == 0  # converged: nothing left to write


@pytest.mark.parametrize("seed", range(1, DEFAULT_TRIALS + 1))
def test_a_file_export_killed_converges_to_the_audience(tmp_path: Path, seed: int) -> None:
    _trial(tmp_path, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 100 + SLOW_TRIALS))
def test_a_file_export_killed_many_trials(tmp_path: Path, seed: int) -> None:
    _trial(tmp_path, seed)
