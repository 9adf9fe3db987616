"""One request budget per destination, shared by every sync to it in this process.

Why in the engine: a destination declares `max_requests_per_second` and
`max_concurrency` (connectors.base.Capabilities); two syncs to one SendGrid
account, or one sync's concurrent workers, draw on the same vendor quota. A
token bucket keyed by the destination's identity paces the batches the engine
submits (each batch is at least one request); `pause()` holds every worker when
the vendor asked for a wait (Retry-After), not only the one that was told.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Throttle:
    """A token bucket: `rate` tokens a second, at most `burst` saved up."""

    rate: float | None
    burst: int = 1
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _not_before: float = field(init=False, default=0.0)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def acquire(self) -> float:
        """Wait for one request's token (and any pause); returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                hold = self._not_before - now
                if hold <= 0 and self.rate is None:
                    return waited
                if hold <= 0:
                    self._tokens = min(
                        float(self.burst), self._tokens + (now - self._stamp) * self.rate
                    )
                    self._stamp = now
                    if self._tokens >= 1.0:
                        self._tokens -= 1.0
                        return waited
                    hold = (1.0 - self._tokens) / self.rate
            self.sleep(hold)
            waited += hold

    def pause(self, seconds: float) -> None:
        """The vendor asked every request to wait `seconds` (e.g. a 429's Retry-After)."""
        with self._lock:
            self._not_before = max(self._not_before, self.clock() + seconds)


_registry: dict[str, Throttle] = {}
_registry_lock = threading.Lock()


def throttle_for(destination_key: str, rate: float | None, burst: int) -> Throttle:
    """The process-wide throttle of one destination identity (created on first use)."""
    with _registry_lock:
        found = _registry.get(destination_key)
        if found is None or found.rate != rate or found.burst != max(1, burst):
            found = _registry[destination_key] = Throttle(rate, max(1, burst))
        return found
