"""Run every benchmark in its own process, then render the README table.

Why separate processes: peak memory (ru_maxrss) is per process, and one
benchmark's caches must not flatter the next. Each benchmark module writes its
own JSON file under benchmarks/results/; `benchmarks.report` turns them into the
table quoted in README.md.

    python -m benchmarks.run [--only identity,sync,fuzzy] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

BENCHMARKS = {
    "identity": "benchmarks.identity_profiles",
    "sync": "benchmarks.sync_plan",
    "fuzzy": "benchmarks.fuzzy_matching",
    "identity_vs_splink": "benchmarks.identity_vs_splink",
    "sync_vs_dlt": "benchmarks.sync_vs_dlt",
    "sync_file_export": "benchmarks.sync_file_export",
    "identity_postgres": "benchmarks.identity_postgres",
    "source_registry": "benchmarks.source_registry",
    "ui_startup": "benchmarks.ui_startup",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the harness")
    args = parser.parse_args(argv)
    failed = []
    for name in args.only.split(","):
        module = BENCHMARKS[name]
        cmd = [sys.executable, "-m", module] + (["--quick"] if args.quick else [])
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"== {name}: exit {rc} after {time.perf_counter() - started:.0f} s", flush=True)
        if rc:
            failed.append(name)
    from benchmarks.report import update_readme

    update_readme()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
