"""Full-sync throughput over HTTP: Ferry's sync engine versus dlt's `@dlt.destination` (reverse-ETL path).

    python -m benchmarks.sync_vs_dlt [--quick] [--members N]

Both send the same rows, in batches of the same size, as JSON POSTs to the same
zero-latency loopback receiver (a ThreadingHTTPServer on 127.0.0.1 in the driver
process that parses each body and counts records):
- Ferry: `syncs.engine.run` (plan SQL, policies, Arrow stream, batching, state and
  per-record results committed per batch) through connectors.webhook's destination
  (signed envelopes, the one HTTP layer), rate limit off;
- dlt 1.31: a pipeline fed the same eligible rows (same columns) as Arrow batches
  from the same DuckDB file, into a `@dlt.destination(batch_size=B)` function
  that POSTs each batch as JSON with a keep-alive requests.Session.
Each client runs in its own process (peak RSS per client, benchmarks.measure).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WORKDIR = Path("/tmp/ferry_bench_sync_vs_dlt")
BATCH = 1_000
SECRET = "bench-secret-0123456789"
COLUMNS = ("profile_id", "email", "first_name", "city", "loyalty_points", "main_interest")
# The rows the engine sends on a first mirror sync of aud_bench (benchmarks.sync_plan.setup):
# treatment variant, email consent, not suppressed.
ELIGIBLE_SQL = f"""
    select {", ".join("a." + c for c in COLUMNS)}
    from audiences.aud_bench as a
    join marts.customer_consent as c on c.profile_id = a.profile_id and c.channel = 'email' and c.is_consented
    where a.variant <> 'holdout'
      and not exists (select 1 from marts.customer_suppressions as s
                      where s.profile_id = a.profile_id and s.channel = 'email')"""


# --------------------------------------------------------------------------- receiver


class Receiver:
    """Loopback receiver: parse each JSON batch, count records, answer 200.

    `delay`: answer that many seconds after the request arrived (a tool that far away;
    its own work counts within it). `parse=False` counts the webhook envelope's records
    without parsing every body (a remote tool's CPU is not on this machine, and on two
    shared cores eight parses of 2 MB bodies at once, one GIL, were the bottleneck of
    the latency benchmark, not the client under test), but still checks what it counts:
    with `secret`, every body's signature (connectors.webhook.signing: the bytes are the
    ones the client signed), the envelope's batch id against its header, and every
    `parse_every`-th body parsed in full, its records' count compared with the count.
    A body that fails a check is answered 400 and counted in `errors`."""

    def __init__(
        self,
        delay: float = 0.0,
        parse: bool = True,
        secret: str | None = None,
        parse_every: int = 8,
    ) -> None:
        from connectors.webhook.signing import BATCH_ID_HEADER, SIGNATURE_HEADER, verify

        self.records = 0
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.errors = 0
        self.parsed = 0
        self.arrived = 0
        lock = threading.Lock()
        outer = self

        def count(headers: Any, raw: bytes, seq: int) -> int:
            """Records of one webhook envelope; raises ValueError if it fails a check."""
            if secret is not None:
                verify(secret, headers.get(SIGNATURE_HEADER), raw)
                head = b'{"batch_id":' + json.dumps(headers.get(BATCH_ID_HEADER)).encode()
                if not raw.startswith(head) or not raw.endswith(b"]}"):
                    raise ValueError("not the envelope its headers announce")
            n = raw.count(b'{"key":')  # connectors.webhook's record objects
            if parse_every and (seq - 1) % parse_every == 0:  # the first, then every n-th
                body = json.loads(raw)
                if len(body["records"]) != n or any("payload" not in r for r in body["records"]):
                    raise ValueError(f"counted {n} records, parsed {len(body['records'])}")
                with lock:
                    outer.parsed += 1
            return n

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: with Nagle's algorithm on, the body waits
            # for the client's delayed ACK (40 ms a request on Linux loopback), a cost of this
            # receiver, not of the client under test.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                arrived = time.perf_counter()
                with lock:
                    outer.in_flight += 1
                    outer.most_in_flight = max(outer.most_in_flight, outer.in_flight)
                    outer.arrived += 1
                    seq = outer.arrived
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                status = 200
                try:
                    if parse:
                        body = json.loads(raw)
                        n = len(body["records"]) if isinstance(body, dict) else len(body)
                    else:
                        n = count(self.headers, raw, seq)
                except (ValueError, KeyError, TypeError):
                    n, status = 0, 400
                if delay:
                    # A receiver this far away (the benchmark's latency), from the arrival.
                    time.sleep(max(0.0, delay - (time.perf_counter() - arrived)))
                with lock:
                    outer.records += n
                    outer.requests += 1
                    outer.in_flight -= 1
                    outer.errors += status != 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.records = self.requests = self.most_in_flight = self.errors = self.parsed = 0
        self.arrived = 0

    def stop(self) -> None:
        self.server.shutdown()


# --------------------------------------------------------------------------- client phases (own process)


def phase_ferry(db: Path, url: str) -> dict[str, Any]:
    import duckdb

    from benchmarks.sync_plan import bench_sync
    from connectors.webhook.destination import WebhookDestination
    from syncs import engine

    conn = duckdb.connect(str(db))
    dest = WebhookDestination.from_options(
        {
            "url": url,
            "secret": SECRET,
            "max_batch_records": BATCH,
            "max_batch_bytes": 50_000_000,
            "max_requests_per_second": None,
        }
    )
    started, cpu = time.perf_counter(), time.process_time()
    result = engine.run(bench_sync("aud_bench__webhook"), conn, dest, confirm=True)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "sent": result.sent,
        "status": str(result.status),
        **close_measured(conn),
    }


def close_measured(conn: Any) -> dict[str, float]:
    """Close the DuckDB connection, timed: the checkpoint a run defers (syncs.warehouse.
    deferred_checkpoints) is paid here, moving the run's state and results from the WAL
    into the database file. Reported beside the run, not hidden in the process exit."""
    started, cpu = time.perf_counter(), time.process_time()
    conn.close()
    return {
        "close_seconds": time.perf_counter() - started,
        "close_cpu_seconds": time.process_time() - cpu,
    }


def phase_dlt(db: Path, url: str) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    import duckdb
    import requests

    session = requests.Session()
    sent = 0

    @dlt.destination(batch_size=BATCH, loader_file_format="parquet", name="loopback")
    def loopback(items, table) -> None:  # items: a pyarrow batch of <= BATCH rows
        nonlocal sent
        rows = items.to_pylist()
        resp = session.post(
            url, data=json.dumps(rows, default=str), headers={"Content-Type": "application/json"}
        )
        resp.raise_for_status()
        sent += len(rows)

    conn = duckdb.connect(str(db), read_only=True)

    @dlt.resource(name="aud_bench", write_disposition="append")
    def members():
        yield from conn.sql(ELIGIBLE_SQL).to_arrow_reader(10_000)

    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination=loopback,
        dataset_name="bench",
        pipelines_dir=str(WORKDIR / "dlt"),
    )
    started, cpu = time.perf_counter(), time.process_time()
    pipeline.run(members())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "sent": sent}


PHASES = {"ferry": phase_ferry, "dlt": phase_dlt}


# --------------------------------------------------------------------------- driver

PEER = "dlt 1.31 @dlt.destination"


def _versus_dlt(what: str, ours: float, theirs: float, unit: str, digits: int) -> dict[str, Any]:
    """One results row: Ferry's value beside dlt's and their ratio."""
    return {
        "what": what,
        "value": round(ours, digits) if digits else round(ours),
        "unit": unit,
        "peer": PEER,
        "peer_value": round(theirs, digits) if digits else round(theirs),
        "ratio": round(ours / theirs, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k members, to check the harness")
    parser.add_argument(
        "--sizes", nargs="+", default=["100000,1000000"], help="e.g. 100000 1000000"
    )
    parser.add_argument("--phase", choices=sorted(PHASES))
    parser.add_argument("--db", type=Path)
    parser.add_argument("--url")
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.db, args.url)))
        return 0

    import duckdb

    from benchmarks.common import run_measured, write_results
    from benchmarks.sync_plan import setup

    sizes = [20_000] if args.quick else [int(n) for s in args.sizes for n in s.split(",")]
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    receiver = Receiver()
    rows: list[dict[str, Any]] = []
    measured = []
    try:
        for members in sizes:
            db = WORKDIR / f"bench_{members}.duckdb"
            setup(db, members)
            with duckdb.connect(str(db), read_only=True) as con:
                eligible = con.execute(f"select count(*) from ({ELIGIBLE_SQL})").fetchone()[0]
            out = {}
            for name in ("ferry", "dlt"):
                receiver.reset()
                # The receiver runs in this process: its CPU (parsing every body) shares the
                # machine's two cores with the client under test.
                receiver_cpu = time.process_time()
                m = run_measured(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.sync_vs_dlt",
                        "--phase",
                        name,
                        "--db",
                        str(db),
                        "--url",
                        receiver.url,
                    ]
                )
                if m.returncode:
                    raise SystemExit(f"phase {name} failed")
                res = json.loads(m.output.strip().splitlines()[-1])
                res.update(
                    receiver_cpu=time.process_time() - receiver_cpu,
                    wall=m.seconds,
                    rss=m.peak_rss_mb,
                    received=receiver.records,
                    requests=receiver.requests,
                )
                res["rps"] = res["received"] / res["seconds"]
                out[name] = res
                print(f"  {members:,} members, {name}: {json.dumps(res)}", flush=True)
            f, d = out["ferry"], out["dlt"]
            if f["received"] != eligible or d["received"] != eligible:
                raise SystemExit(
                    f"receiver counts differ from the {eligible:,} eligible rows: "
                    f"ferry {f['received']:,}, dlt {d['received']:,}"
                )
            measured.append((eligible, f["seconds"], d["seconds"]))
            label = f"{eligible:,} records ({members:,} members)"
            rows += [
                _versus_dlt(
                    f"full sync over HTTP loopback, {label}", f["rps"], d["rps"], "records/s", 0
                ),
                _versus_dlt(
                    f"full sync CPU time of the client process, {label}",
                    f["cpu_seconds"],
                    d["cpu_seconds"],
                    "s",
                    2,
                ),
                _versus_dlt(
                    f"full sync peak RSS of the client process, {label}",
                    f["rss"],
                    d["rss"],
                    "MB",
                    0,
                ),
                _versus_dlt(
                    f"CPU time of the loopback receiver while the client ran (parses every "
                    f"body; shares the 2 cores), {label}",
                    f["receiver_cpu"],
                    d["receiver_cpu"],
                    "s",
                    2,
                ),
                {
                    "what": f"checkpoint at close after the run (not in the run's time above), {label}",
                    "value": round(f["close_seconds"], 2),
                    "unit": "s",
                },
                {
                    "what": f"HTTP requests, {label}",
                    "value": f["requests"],
                    "unit": "requests",
                    "peer": PEER,
                    "peer_value": d["requests"],
                },
            ]
            db.unlink(missing_ok=True)
    finally:
        receiver.stop()
    if len(measured) >= 2:
        (n1, f1, d1), (n2, f2, d2) = measured[0], measured[-1]
        rows.append(
            {
                "what": "scaling exponent of full-sync time (time ~ records^k)",
                "value": round(math.log(f2 / f1) / math.log(n2 / n1), 2),
                "unit": "k",
                "peer": PEER,
                "peer_value": round(math.log(d2 / d1) / math.log(n2 / n1), 2),
            }
        )
    notes = [
        (
            f"Same rows (treatment, consented, not suppressed members of benchmarks.sync_plan's synthetic audience; "
            f"columns {', '.join(COLUMNS)}), batches of {BATCH:,}, same loopback receiver (parses JSON, counts, 200)."
        ),
        (
            "Ferry does more per record than dlt here: it computes the plan in SQL (consent, suppression, holdout, "
            "diff against ferry_sync state), signs each envelope (HMAC), and commits state plus per-record results "
            "after each batch, so a crash resumes; dlt extracts to parquet files, normalizes, then loads them through "
            "the decorated function, keeping only its load package state."
        ),
        (
            "dlt is given its fast path: Arrow record batches in, parquet load files, the sink converts each batch "
            "to Python dicts and POSTs it (requests.Session keep-alive). Records/s = receiver-counted records / "
            "in-process run time (imports excluded for both)."
        ),
        (
            f"Shared 2-core machine; the receiver's JSON parsing runs in the driver process and competes for the "
            f"same cores (load average at end: {Path('/proc/loadavg').read_text().split()[0]})."
        ),
        (
            f"Detail: ferry {json.dumps({k: v for k, v in out['ferry'].items()}, default=str)}; "
            f"dlt {json.dumps({k: v for k, v in out['dlt'].items()}, default=str)}"
        ),
    ]
    path = write_results("sync_vs_dlt", rows, notes=notes)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
