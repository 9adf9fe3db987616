"""Run one command and print its own peak RSS and CPU time: a fresh parent per measurement.

Why: RUSAGE_CHILDREN reports the largest child a process ever waited for, so a
long-lived benchmark process would report an earlier, bigger child. This tiny
wrapper has exactly one child. CPU seconds (user + system, all the child's
threads) say what a run costs whatever else the machine is doing: on a shared
machine, wall time grows with the load of others, CPU time hardly does.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def main() -> int:
    rc = subprocess.call(sys.argv[1:])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = {
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "rc": rc,
    }
    sys.stderr.write("FERRY_MEASURE " + json.dumps(report) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
