"""Run one command and print its own peak RSS: a fresh parent per measurement.

Why: RUSAGE_CHILDREN reports the largest child a process ever waited for, so a
long-lived benchmark process would report an earlier, bigger child. This tiny
wrapper has exactly one child.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def main() -> int:
    rc = subprocess.call(sys.argv[1:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sys.stderr.write("FERRY_MEASURE " + json.dumps({"peak_rss_mb": peak_kb / 1024, "rc": rc}) + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
