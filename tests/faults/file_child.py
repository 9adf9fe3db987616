"""A sync run to the file export in a child process that SIGKILLs itself at an armed write.

    FERRY_TEST_FILE_KILL=<kind>:<nth>:<phase> python -m tests.faults.file_child <db> <sync> <dest>

`kind` is `part` (a batch's journal part), `run` (a run file) or `latest`; the
process kills itself with SIGKILL just before (`before`) or just after (`after`)
the nth atomic write of that kind: a real kill -9 (no finally, no flush), at a
point chosen by the test instead of by a clock. Without the variable it runs as
tests.faults.child does.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from connectors.file import destination as file_destination
from tests.faults import child

KILL_ENV = "FERRY_TEST_FILE_KILL"


def _kind(target: Path) -> str:
    if target.name.endswith(file_destination.PART_SUFFIX):
        return "part"
    return "latest" if "_latest." in target.name else "run"


def arm(spec: str) -> None:
    kind, nth, phase = spec.split(":")
    real = file_destination.atomic_write
    seen = [0]
    lock = threading.Lock()

    def armed(target: Path, write) -> None:
        hit = False
        if _kind(target) == kind:
            with lock:
                seen[0] += 1
                hit = seen[0] == int(nth)
        if hit and phase == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(target, write)
        if hit and phase == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    file_destination.atomic_write = armed


if __name__ == "__main__":
    if os.environ.get(KILL_ENV):
        arm(os.environ[KILL_ENV])
    raise SystemExit(child.main(sys.argv[1:]))
