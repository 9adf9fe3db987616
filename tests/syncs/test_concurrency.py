"""Several requests in flight within a destination's declared limits, exactly once still."""

from __future__ import annotations

import threading
from dataclasses import replace

from connectors.base import Record, RecordResult
from syncs import engine
from syncs.throttle import Throttle, throttle_for
from tests.syncs.conftest import make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination


def rows(n: int) -> list[tuple]:
    return [(f"p{i:03d}", f"u{i}@x.com", "N", "treatment", "2026-01-01") for i in range(n)]


class Counting(LoopbackDestination):
    """Counts requests in flight; the first `together` writes wait for each other."""

    def __init__(self, together: int, **kw) -> None:
        super().__init__(**kw)
        self.gate = threading.Barrier(together, timeout=30)
        self.in_flight = 0
        self.most = 0
        self.first = together
        self.count_lock = threading.Lock()

    def write(self, records: list[Record]) -> list[RecordResult]:
        with self.count_lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            wait = self.first > 0
            self.first -= 1
        try:
            if wait:
                self.gate.wait()  # passes only if `together` writes are in flight at once
            return super().write(records)
        finally:
            with self.count_lock:
                self.in_flight -= 1


def test_requests_in_flight_reach_but_never_exceed_the_declared_limit(conn) -> None:
    set_audience(conn, rows(200))
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10, max_concurrency=3)
    dest = Counting(3, capabilities=caps)
    r = engine.run(make_sync("mirror"), conn, dest)
    assert r.status == "success" and r.sent == 200 and len(dest.members) == 200
    assert dest.most == 3  # three at once (the barrier proves it), never four
    assert engine.plan(make_sync("mirror"), conn).work == 0  # every batch committed once


def test_sends_in_flight_at_once_are_each_sent_exactly_once(conn) -> None:
    set_audience(conn, rows(60))
    caps = replace(
        LoopbackDestination().capabilities, max_concurrency=4, request_per_send=True
    )
    dest = Counting(4, capabilities=caps)
    sync = make_sync("send")
    assert engine.run(sync, conn, dest).sent == 60
    assert sorted(k for _, k in dest.sends) == [f"p{i:03d}" for i in range(60)]
    assert engine.run(sync, conn, dest).sent == 0 and len(dest.sends) == 60


def test_the_request_budget_and_the_retry_after_hold_are_per_quota() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    t = Throttle(rate=2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    assert [t.acquire() for _ in range(2)] == [0.0, 0.0]  # the burst
    assert t.acquire() == 0.5  # then 2 a second
    assert throttle_for("dest:a", 5.0, 2) is throttle_for("dest:a", 5.0, 2)  # one per quota
    assert throttle_for("dest:a", 5.0, 2) is not throttle_for("dest:b", 5.0, 2)
    # Syncs with other concurrencies on one quota and rate: one bucket, the largest burst
    # (two syncs to one Twilio sender never pace at twice its rate).
    assert throttle_for("dest:c", 1.0, 4) is throttle_for("dest:c", 1.0, 2)
    assert throttle_for("dest:c", 1.0, 2).burst == 4
    # Other declared limits on one quota: a bucket of their own, the same Retry-After hold.
    assert throttle_for("dest:a", 1.0, 1) is not throttle_for("dest:a", 5.0, 2)
    assert throttle_for("dest:a", 1.0, 1).hold is throttle_for("dest:a", 5.0, 2).hold
    assert throttle_for("dest:a", 5.0, 2).hold is not throttle_for("dest:b", 5.0, 2).hold


def test_a_retry_after_holds_every_worker_of_the_destination() -> None:
    """Two workers share one destination's HTTP client: A is told 429 Retry-After: 3 while
    B's request is in flight; B gets a 503 (no Retry-After). B's retry must wait out A's
    hold, not only its own backoff; A's own wait is the 3 s it was asked for."""
    from connectors.http import HttpClient
    from connectors.sandbox import Request, Response, SandboxServer

    b_arrived, hold_set, b_held = threading.Event(), threading.Event(), threading.Event()
    answered: list[str] = []

    class Vendor(SandboxServer):
        vendor = "test"

        def __init__(self) -> None:
            super().__init__()
            self.route("POST", "/a", lambda r: self.answer("a"))
            self.route("POST", "/b", lambda r: self.answer("b"))
            self.on_request = self.order  # outside the handlers' lock: may wait

        def answer(self, path: str) -> Response:
            answered.append(path)
            if answered.count(path) > 1:
                return Response.json({})
            if path == "a":
                return Response.json({}, status=429, headers={"Retry-After": "3"})
            return Response.json({}, status=503)

        @staticmethod
        def order(request: Request, phase: str) -> None:
            if phase != "before":
                return
            if request.path == "/a" and not b_arrived.is_set():
                assert b_arrived.wait(10)  # B is in flight when A is told to wait
            elif request.path == "/b" and not b_arrived.is_set():
                b_arrived.set()
                assert hold_set.wait(10)  # B's 503 comes after A's 429 set the hold

    slept: dict[str, list[float]] = {"a": [], "b": []}

    def sleep(seconds: float) -> None:
        who = threading.current_thread().name
        slept[who].append(seconds)
        if who == "a" and seconds >= 1:
            hold_set.set()
            b_held.wait(10)  # A's wait lasts until B has waited too (time stands still here)
        if who == "b" and seconds >= 1:
            b_held.set()

    with Vendor() as vendor:
        client = HttpClient(vendor.base_url, sleep=sleep, backoff_initial=0.01, backoff_max=0.02)
        codes: dict[str, int] = {}
        workers = [
            threading.Thread(
                target=lambda p=p: codes.__setitem__(p, client.request("POST", f"/{p}").status_code),
                name=p,
            )
            for p in ("a", "b")
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
    assert codes == {"a": 200, "b": 200}
    assert slept["a"] == [3.0]  # its own Retry-After
    assert b_held.is_set() and max(slept["b"]) > 2.5, slept  # B's retry waited out A's hold
