"""File export throughput: a first mirror sync of N members to a CSV/Parquet file.

    python -m benchmarks.sync_file_export [--sizes 100000 1000000] [--format csv]

Each size runs `syncs.engine.run` in its own process (benchmarks.measure: wall,
CPU, peak RSS) on the benchmark audience of benchmarks.sync_plan, through
connectors.file (batches of 50,000, two in flight, journal parts folded into the
latest file when the run ends). Why: the export used to rewrite the whole latest
file at every batch, so its time grew with the square of the audience; the row
"time per 1k records, largest / smallest size" shows whether it is now linear (1.0).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common import run_measured, write_results

WORKDIR = Path("/tmp/ferry_bench_sync_file_export")


def phase_run(members: int, fmt: str) -> dict[str, Any]:
    import duckdb

    from benchmarks.sync_plan import bench_sync, setup
    from connectors.file.destination import FileExport
    from syncs import engine

    work = WORKDIR / f"{members}_{fmt}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "bench.duckdb"
    setup(db, members)
    conn = duckdb.connect(str(db))
    dest = FileExport.from_options({"path": str(work / "out"), "format": fmt, "sync": "bench"})
    started, cpu = time.perf_counter(), time.process_time()
    result = engine.run(bench_sync("aud_bench__file"), conn, dest, confirm=True)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    conn.close()
    rows = sum(1 for _ in open(dest.latest_path, "rb")) - 1 if fmt == "csv" else None
    shutil.rmtree(work, ignore_errors=True)
    return {"seconds": seconds, "cpu_seconds": cpu, "sent": result.sent, "status": result.status,
            "latest_rows": rows}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--quick", action="store_true", help="10k and 50k members, to check the harness")
    parser.add_argument("--phase", choices=["run"])
    parser.add_argument("--members", type=int)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = [10_000, 50_000]
    if args.phase:
        print(json.dumps(phase_run(args.members, args.format)))
        return 0
    rows, per_k = [], {}
    for size in args.sizes:
        measured = run_measured([sys.executable, "-m", "benchmarks.sync_file_export", "--phase", "run", "--members", str(size),
                                 "--format", args.format])  # fmt: skip
        if measured.returncode:
            return measured.returncode
        out = json.loads(measured.output.strip().splitlines()[-1])
        assert out["status"] == "success" and out["latest_rows"] in (None, out["sent"]), out
        per_k[size] = out["seconds"] / out["sent"] * 1000
        rows += [
            {"what": f"first sync of {size:,} members to a {args.format} file ({out['sent']:,} records): wall / CPU "
                     f"(load {measured.load_before:.1f} at the start)",
             "value": f"{out['seconds']:.1f} / {out['cpu_seconds']:.1f}", "unit": "s"},
            {"what": f"same ({size:,}): records per second", "value": round(out["sent"] / out["seconds"]),
             "unit": "records/s"},
            {"what": f"same ({size:,}): peak RSS", "value": round(measured.peak_rss_mb), "unit": "MB"},
        ]  # fmt: skip
    if len(per_k) > 1:
        small, large = min(per_k), max(per_k)
        rows.append({"what": f"time per 1k records, {large:,} / {small:,} members (1.0 = linear; the "
                             "per-batch rewrite it replaces grew with the audience)",
                     "value": round(per_k[large] / per_k[small], 2), "unit": "ratio"})  # fmt: skip
    path = write_results("sync_file_export", rows)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
