"""The write-ahead of a run, window by window, so the first requests do not wait for all of it.

Why: a run used to write ahead every add of its plan in one commit before its first
request (0.5-0.9 s at 877k adds, the plan's materialization before it): at 150 ms a
request and 8 in flight, that alone was a third of the whole run. Now the first window
(one round of requests: `max_concurrency` batches) is written before the first request,
and each later window is written on a thread of its own (DuckDB: on a cursor of its own,
so it never queues behind a commit of state and results) while the requests of the one
before it are in flight.

The guarantee is unchanged: a request leaves only once the window holding its rows is
committed (`ensure`). A kill at any point leaves in the run's pending table every add
that may have reached the destination; the rows of windows not yet written never left,
and the next run plans them as adds anyway (they have no state). Windows double from
the first up to `cap` rows and never cross a multiple of `cap` (a DuckDB row group: past
the first, each window is written whole, compressed, at its commit; only the first row
group's windows go to the WAL).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future


class WriteAheadWindows:
    """Windows of plan rows [lo, end) (row numbers as the plan table has them), written in
    order, at most one ahead of the window the requests are in."""

    def __init__(
        self,
        write: Callable[[int, int], None],
        submit: Callable[[int, int], Future],
        first: int,
        rows: int,
        head: int,
        cap: int,
    ) -> None:
        """`write(lo, end)` commits the first window on the caller's thread; `submit(lo, end)`
        has a later one committed on another thread (a Future). Rows are numbered from
        `first`; `head` rows are the first window."""
        self._write, self._submit = write, submit
        self._first, self._end = first, first + rows
        self._next = first  # where the next window to write starts
        self._size = max(1, head)
        self._cap = max(self._size, cap)
        self.written = first  # rows before this one are committed
        self._ahead: tuple[int, Future] | None = None  # (end, future) of the window being written

    def _window(self) -> tuple[int, int]:
        lo = self._next
        # Never across a multiple of `cap`: past the first one, every window is whole.
        boundary = self._first + ((lo - self._first) // self._cap + 1) * self._cap
        end = min(self._end, lo + self._size, boundary)
        self._next = end
        self._size = min(self._cap, self._size * 2)
        return lo, end

    def start(self) -> None:
        """Write the first window now, on the caller's thread (it waits for it anyway)."""
        lo, end = self._window()
        self._write(lo, end)
        self.written = end

    def ensure(self, last: int) -> None:
        """Return once every row up to `last` (inclusive) is written ahead (raising what a
        write raised, e.g. LeaseLost); then hand the window after to the committing thread,
        so it is written while these requests are in flight."""
        while last >= self.written:
            if self._ahead is None:
                self._submit_next()
            assert self._ahead is not None
            end, fut = self._ahead
            self._ahead = None
            fut.result()
            self.written = end
        if self._ahead is None:
            self._submit_next()

    def _submit_next(self) -> None:
        if self._next >= self._end:
            return
        lo, end = self._window()
        self._ahead = (end, self._submit(lo, end))
