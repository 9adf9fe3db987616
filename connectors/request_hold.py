"""The wait a vendor asked for (Retry-After), shared by every request to its quota.

Why its own object: a 429's Retry-After speaks for the vendor's quota (an account,
a sender, an API key), not for the one HTTP client that happened to receive it.
Every client that draws on that quota — one connector's send and API clients, the
concurrent workers of one sync, and the other syncs to the same account in this
process — must hold the same wait. The engine hands one hold per quota to each
destination (`share_request_hold`); a client on its own keeps a private one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class RequestHold:
    """A monotonic time before which no request to one vendor quota leaves."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._not_before = 0.0
        self._served = 0.0  # the end of a hold some request has already waited out
        self._lock = threading.Lock()

    def extend(self, seconds: float) -> None:
        """The vendor asked every request to wait `seconds` from now (a later ask may extend it)."""
        until = self.clock() + max(0.0, seconds)
        with self._lock:
            self._not_before = max(self._not_before, until)

    def pending(self, served: float) -> tuple[float, float]:
        """`(until, seconds left)` of the hold, or `(served, 0)` when it was waited out already.

        `served` is the end of the hold the caller itself has waited out: a request
        waits each hold once, and not at all when another request has served it (the
        hold then speaks for a window that has passed for everyone).
        """
        until = self._not_before
        if until <= max(served, self._served):
            return served, 0.0
        return until, max(0.0, until - self.clock())

    def served(self, until: float) -> None:
        """A request waited out the hold up to `until`: requests that start now need not."""
        with self._lock:
            self._served = max(self._served, until)


def share_request_hold(destination: Any, hold: RequestHold) -> None:
    """Make every HTTP client of `destination` wait on `hold` (its vendor quota's).

    Duck-typed on purpose: connectors keep their clients as attributes (`http`,
    `send_http`, ...); any attribute holding a `RequestHold` in `.hold` shares it.
    """
    for value in list(vars(destination).values()):
        if isinstance(getattr(value, "hold", None), RequestHold):
            value.hold = hold
