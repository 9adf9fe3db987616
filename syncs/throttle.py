"""One request budget per destination, shared by every sync to it in this process.

Why in the engine: a destination declares `max_requests_per_second` and
`max_concurrency` (connectors.base.Capabilities); two syncs to one SendGrid
account, or one sync's concurrent workers, draw on the same vendor quota. A
token bucket keyed by that quota (`quota_key`: the connector's
`rate_limit_scope`, else its destination identity) paces the batches the engine
submits (each batch is at least one request). The quota's `RequestHold` is handed
to the destination's HTTP clients, so a Retry-After one request was told holds
every worker of every sync to that quota, retries included, and the next batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.request_hold import RequestHold, share_request_hold


@dataclass
class Throttle:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    rate: float | None
    burst: int = 1
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    hold: RequestHold = field(default_factory=RequestHold)  # the quota's Retry-After
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def acquire(self) -> float:
        """Wait for one request's token; returns the seconds waited.

        A Retry-After is not waited here: the request itself waits it out in its HTTP
        client, on the quota's `hold`, with the try that was told to wait.
        """
        waited = 0.0
        if self.rate is None:
            return waited
        while True:
            with self._lock:
                now = self.clock()
                self._tokens = min(
                    float(self.burst), self._tokens + (now - self._stamp) * self.rate
                )
                self._stamp = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                short = (1.0 - self._tokens) / self.rate
            self.sleep(short)
            waited += short


_buckets: dict[tuple[str, float | None], Throttle] = {}
_holds: dict[str, RequestHold] = {}
_registry_lock = threading.Lock()


def quota_key(destination: Any, destination_key: str) -> str:
    """The vendor quota a destination's requests draw on: its declared `rate_limit_scope`
    (an account, an API key's fingerprint, a host), else its destination identity."""
    return str(getattr(destination, "rate_limit_scope", None) or destination_key)


def throttle_for(quota: str, rate: float | None, burst: int) -> Throttle:
    """The process-wide throttle of one vendor quota (created on first use).

    One bucket per quota and rate, whatever each sync's concurrency: two syncs to one
    Twilio sender with 4 and 2 requests in flight draw on the sender's one rate (the
    burst is the largest declared). Destinations that declare another rate for one
    quota (two webhooks to one host with their own rates) get buckets of their own,
    but one hold: a wait the vendor asked for holds them all.
    """
    burst = max(1, burst)
    with _registry_lock:
        found = _buckets.get((quota, rate))
        if found is None:
            hold = _holds.setdefault(quota, RequestHold())
            found = _buckets[(quota, rate)] = Throttle(rate, burst, hold=hold)
        elif burst > found.burst:
            with found._lock:
                found.burst = burst
        return found


def share_quota(destination: Any, destination_key: str, rate: float | None, burst: int) -> Throttle:
    """The throttle of `destination`'s quota, with its hold handed to the destination's clients."""
    throttle = throttle_for(quota_key(destination, destination_key), rate, burst)
    share_request_hold(destination, throttle.hold)
    return throttle
