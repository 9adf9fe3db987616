"""Two syncs to one vendor quota in one process share its Retry-After.

A webhook receiver tells sync A's first request to wait 30 s (429, Retry-After).
While A waits, sync B (another destination instance, another path on the same
host) starts: its request must wait out A's hold before it leaves. A sync to
another host must not. Sleeps are recorded, not slept: time stands still while
each sync's recorder holds it, so nothing here depends on the machine's speed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb

from connectors.sandbox import Request, Response
from connectors.webhook.sandbox import WebhookReceiver
from syncs import engine
from syncs.registry import build_destination
from tests.connectors.file.test_file_and_webhook_engine import sync, warehouse

SECRET = "shared-quota-secret-0123"


class TellsAToWait(WebhookReceiver):
    """Answers the first request to /hooks/a with 429 Retry-After: 30."""

    def __init__(self) -> None:
        super().__init__(secret=SECRET)
        self.told = False

    def _receive(self, request: Request) -> Response:
        if request.path.endswith("/a") and not self.told:
            self.told = True
            return Response.json({"error": "slow down"}, status=429, headers={"Retry-After": "30"})
        return super()._receive(request)


def _webhook_sync(name: str, url: str):
    s = sync("webhook", {"url": url, "secret": SECRET, "sync": name})
    return s.model_copy(update={"name": name, "destination_name": name})


def _run_b_while_a_waits(
    tmp_path: Path, b_receiver: WebhookReceiver, a_receiver: TellsAToWait
) -> list[float]:
    """Runs A; when A is told to wait, runs B on its own connection; returns B's sleeps."""
    db = tmp_path / "wh.duckdb"
    warehouse(db).close()
    a_told, b_done = threading.Event(), threading.Event()
    b_slept: list[float] = []
    results: dict[str, str] = {}

    def a_sleep(seconds: float) -> None:
        if seconds >= 1:
            a_told.set()
            assert b_done.wait(60)  # A's wait lasts until B has run (time stands still)

    def run(name: str, url: str, sleep, con: duckdb.DuckDBPyConnection) -> None:
        s = _webhook_sync(name, url)
        dest = build_destination(s.destination)
        dest.http.sleep = sleep  # shares the quota's hold once the engine hands it over
        results[name] = engine.run(s, con, dest).status

    con = duckdb.connect(str(db))
    a = threading.Thread(
        target=run, args=("aud_vip__a", a_receiver.url("a"), a_sleep, con.cursor())
    )
    a.start()
    assert a_told.wait(60)
    try:
        run("aud_vip__b", b_receiver.url("b"), b_slept.append, con.cursor())
    finally:
        b_done.set()
        a.join(60)
    con.close()
    assert results == {"aud_vip__a": "success", "aud_vip__b": "success"}, results
    return b_slept


def test_a_retry_after_told_to_one_sync_holds_another_sync_to_the_same_host(tmp_path: Path) -> None:
    with TellsAToWait() as receiver:
        b_slept = _run_b_while_a_waits(tmp_path, receiver, receiver)
        assert len(receiver.state.batches) == 2  # each sync's 25 members, once
    assert b_slept and max(b_slept) > 20, b_slept  # B waited out A's 30 s hold


def test_a_sync_to_another_host_is_not_held(tmp_path: Path) -> None:
    with TellsAToWait() as a_receiver, WebhookReceiver(secret=SECRET) as b_receiver:
        b_slept = _run_b_while_a_waits(tmp_path, b_receiver, a_receiver)
    assert b_slept == []
