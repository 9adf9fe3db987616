"""Latency-bound sync throughput: one request at a time versus the destination's concurrency.

    python -m benchmarks.sync_latency [--quick] [--members N] [--latency 0.15] [--batch 10000]

A loopback webhook receiver answers each batch `latency` seconds after it arrived
(a tool 150 ms away; it counts records without parsing every body, and checks them: see
Receiver). Ferry's engine runs the same full mirror sync twice, each in its own process: `max_concurrency` 1 and 8. The bound is what latency and batch size
allow: batches x latency / concurrency; records/s is receiver-counted records over
the run's own time, and over its send phase (first request to last answer). dlt's `@dlt.destination` has no per-batch concurrency for one
table (its sink is called batch after batch), so no peer row here.
Results go to benchmarks/results/sync_latency.json. Benchmark only, not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.sync_vs_dlt import ELIGIBLE_SQL, SECRET, Receiver, close_measured

WORKDIR = Path("/tmp/ferry_bench_sync_latency")


def phase(db: Path, url: str, concurrency: int, batch: int) -> dict[str, Any]:
    import duckdb

    from benchmarks.sync_plan import bench_sync
    from connectors.webhook.destination import WebhookDestination
    from syncs import engine

    conn = duckdb.connect(str(db))
    dest = WebhookDestination.from_options(
        {
            "url": url,
            "secret": SECRET,
            "max_batch_records": batch,
            "max_batch_bytes": 50_000_000,
            "max_requests_per_second": None,
            "max_concurrency": concurrency,
        }
    )
    marks: dict[str, float] = {}

    def progress(done: int, total: int) -> None:
        """The send phase: from the first request (after plan and write-ahead) to the last answer."""
        if "send_start" not in marks:
            marks["send_start"], marks["send_cpu_start"] = time.perf_counter(), time.process_time()
        if done == total:
            marks["send_end"], marks["send_cpu_end"] = time.perf_counter(), time.process_time()

    started, cpu = time.perf_counter(), time.process_time()
    result = engine.run(
        bench_sync("aud_bench__webhook"), conn, dest, confirm=True, progress=progress
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "send_seconds": marks["send_end"] - marks["send_start"],
        "before_send_seconds": marks["send_start"] - started,
        "cpu_seconds": cpu,
        "send_cpu_seconds": marks["send_cpu_end"] - marks["send_cpu_start"],
        "sent": result.sent,
        "status": result.status,
        **close_measured(conn),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k members, to check the harness")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--latency", type=float, default=0.15)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--phase", action="store_true")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--url")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.db, args.url, args.concurrency, args.batch), default=str))
        return 0

    import duckdb

    from benchmarks.common import run_measured, write_results
    from benchmarks.sync_plan import setup

    load_start = _load()
    members = 50_000 if args.quick else args.members
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    template = WORKDIR / "template.duckdb"
    setup(template, members)
    with duckdb.connect(str(template), read_only=True) as con:
        eligible = con.execute(f"select count(*) from ({ELIGIBLE_SQL})").fetchone()[0]
    batches = math.ceil(eligible / args.batch)
    receiver = Receiver(delay=args.latency, parse=False, secret=SECRET)
    out: dict[int, dict[str, Any]] = {}
    try:
        for concurrency in (1, 8):
            db = WORKDIR / f"c{concurrency}.duckdb"
            shutil.copy(template, db)  # the same first sync from the same state, each time
            receiver.reset()
            m = run_measured(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.sync_latency",
                    "--phase",
                    "--db",
                    str(db),
                    "--url",
                    receiver.url,
                    "--concurrency",
                    str(concurrency),
                    "--batch",
                    str(args.batch),
                ]
            )
            if m.returncode:
                raise SystemExit(f"phase concurrency={concurrency} failed")
            res = json.loads(m.output.strip().splitlines()[-1])
            if receiver.records != eligible or res["status"] != "success" or receiver.errors:
                raise SystemExit(
                    f"concurrency {concurrency}: received {receiver.records:,} of {eligible:,}, "
                    f"{receiver.errors} bodies failed the receiver's checks"
                )
            res.update(
                rss=m.peak_rss_mb,
                rps=receiver.records / res["seconds"],
                send_rps=receiver.records / res["send_seconds"],
                most=receiver.most_in_flight,
                parsed=receiver.parsed,
                requests=receiver.requests,
            )
            out[concurrency] = res
            print(f"  concurrency {concurrency}: {json.dumps(res, default=str)}", flush=True)
    finally:
        receiver.stop()
    one, eight = out[1], out[8]
    bound = eligible / (batches * args.latency / 8)
    label = f"{eligible:,} records, {batches} batches of {args.batch:,}, {args.latency * 1000:.0f} ms a request"
    rows = [
        {
            "what": f"full sync, concurrency 1, {label}",
            "value": round(one["rps"]),
            "unit": "records/s",
        },
        {
            "what": f"full sync, concurrency 8, {label}",
            "value": round(eight["rps"]),
            "unit": "records/s",
            "peer": "concurrency 1",
            "peer_value": round(one["rps"]),
            "ratio": round(eight["rps"] / one["rps"], 2),
        },
        {
            "what": f"send phase, concurrency 1, {label}",
            "value": round(one["send_rps"]),
            "unit": "records/s",
        },
        {
            "what": f"send phase, concurrency 8, {label}",
            "value": round(eight["send_rps"]),
            "unit": "records/s",
            "peer": "concurrency 1",
            "peer_value": round(one["send_rps"]),
            "ratio": round(eight["send_rps"] / one["send_rps"], 2),
        },
        {
            "what": f"full sync of concurrency 8 against the latency bound ({bound:,.0f} records/s), {label}",
            "value": round(eight["rps"] / bound, 2),
            "unit": "share of bound",
        },
        {
            "what": f"send phase of concurrency 8 against the latency bound ({bound:,.0f} records/s), {label}",
            "value": round(eight["send_rps"] / bound, 2),
            "unit": "share of bound",
        },
        {
            "what": "requests in flight at most (receiver-counted), concurrency 8",
            "value": eight["most"],
            "unit": "requests",
        },
    ]
    for c, res in out.items():
        for what, value, unit in (
            (
                "plan, materialize and write-ahead before the first request",
                res["before_send_seconds"],
                "s",
            ),
            ("CPU time of the client, whole run", res["cpu_seconds"], "s"),
            ("CPU time of the client, send phase", res["send_cpu_seconds"], "s"),
            ("peak RSS", round(res["rss"]), "MB"),
            (
                "checkpoint at close after the run (not in the run's time)",
                res["close_seconds"],
                "s",
            ),
        ):
            rows.append(
                {
                    "what": f"{what}, concurrency {c}, {label}",
                    "value": round(value, 2),
                    "unit": unit,
                }
            )
    notes = [
        "Each run is a first full mirror sync of benchmarks.sync_plan's synthetic audience from the same copied "
        "warehouse, in its own process; the receiver (the driver process) counts the envelope's records without "
        "parsing each body (a remote tool's CPU is not this machine's), checks every body's signature and batch "
        f"id and parses the first and every 8th in full ({one['parsed'] + eight['parsed']} bodies, no failed check), and "
        "answers 200 the latency after the request arrived. Full sync = the run's own time (plan, write-ahead, "
        "send, last commit, run row); send phase = write-ahead done to last answer; the bound is batches x "
        "latency / concurrency; CPU = the client process's (all its threads, DuckDB's too).",
        f"Shared 2-core machine (load average at start: {load_start}, at end: {_load()}).",
    ]
    path = write_results("sync_latency", rows, notes=notes)
    print(f"wrote {path}")
    return 0


def _load() -> str:
    """The 1-minute load average: other work on the shared machine skews every figure."""
    return Path("/proc/loadavg").read_text().split()[0]


if __name__ == "__main__":
    sys.exit(main())
