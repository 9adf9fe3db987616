"""`ferry demo` (`make demo`): the whole loop, headless, on the embedded defaults.

Generate sample data -> dbt build with checks -> every sync to the local vendor
sandboxes (started in this process) -> the sandboxes' recipients engage
(``connectors.sandbox_engagement``, seeded: a demo step, no asset does it) ->
engagement pull-back -> dbt build of the reporting models -> a printed summary: profiles, audiences, sent, suppressed by
reason, engagement rates. Every phase is a Dagster run on the instance in
DAGSTER_HOME, so `make ui` afterwards shows what happened.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole loop on embedded defaults and print a summary")
    parser.add_argument("--people", type=int, default=2000, help="sample people to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-generate", action="store_true", help="keep the raw data already in the warehouse")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from orchestration.instance import prepare_dagster_home
    from orchestration.paths import export_warehouse_env

    home = prepare_dagster_home()
    warehouse = export_warehouse_env()
    for line in choose_sandboxes():
        print(line)
    return run_demo(people=args.people, seed=args.seed, generate=not args.skip_generate,
                    warehouse=str(warehouse), dagster_home=str(home))


def choose_sandboxes(environ: Any = None) -> list[str]:
    """The demo talks to the local vendor sandboxes only, whatever the shell holds.

    Sets FERRY_SANDBOX=1 (the sandbox is chosen, never fallen into) and removes,
    for this process, the variables destinations.yml reads for every destination
    that has a sandbox, so a real API key in the shell never receives demo data.
    Returns what it did, for the console.
    """
    import os

    from orchestration.assets.catalog import DESTINATIONS_FILE
    from syncs.config import SyncConfigError, load_destinations

    environ = os.environ if environ is None else environ
    environ["FERRY_SANDBOX"] = "1"
    try:
        specs = load_destinations(DESTINATIONS_FILE).values()
    except SyncConfigError:
        specs = []  # the definitions load reports it
    ignored = sorted(
        {v for spec in specs if spec.type != "file" for v in spec.referenced_variables() if environ.get(v)}
    )
    for name in ignored:
        del environ[name]
    lines = ["demo: FERRY_SANDBOX=1, every destination talks to its local sandbox on 127.0.0.1"]
    if ignored:
        lines.append(f"demo: ignoring {', '.join(ignored)} (set in your shell; the demo never reaches real tools)")
    return lines


def run_demo(*, people: int, seed: int, generate: bool, warehouse: str, dagster_home: str) -> int:
    from pathlib import Path

    from dagster import DagsterInstance
    from rich.console import Console

    from orchestration.main_job import PHASES, phase_keys, run_phase

    console = Console(width=max(Console().width, 150))
    started = time.perf_counter()
    console.print(f"[bold]Ferry demo[/bold]: warehouse {warehouse}, Dagster home {dagster_home}")
    if generate:
        from sample_data import generate as generate_sample

        t = time.perf_counter()
        summary = generate_sample(people, seed, Path(warehouse), as_of=dt.datetime.now(dt.UTC).date())
        console.print(f"1. sample data: {summary.raw_records:,} raw records for {people:,} people "
                      f"({time.perf_counter() - t:.1f}s)")
    from orchestration.definitions import defs

    instance = DagsterInstance.get()
    keys = phase_keys(defs)
    results = {}

    def _waits_for_confirmation(message: str) -> bool:
        from orchestration.assets.sync_runner import WAITING_FOR_CONFIRMATION

        return WAITING_FOR_CONFIRMATION in message or "waiting for confirmation" in message

    for step, phase in enumerate(PHASES, start=2):
        if phase == "engagement":
            _simulate_recipients(console, warehouse, seed)
        t = time.perf_counter()
        result = run_phase(defs, instance, phase, keys[phase])
        results[phase] = result
        waiting = [m for m in result.failures.values() if _waits_for_confirmation(m)]
        if result.success:
            state = "ok"
        elif waiting and len(waiting) == len(result.failures):  # held for a human: by design
            state = f"ok, {len(waiting)} waiting for confirmation"
        else:
            state = "[red]failed[/red]"
        console.print(f"{step}. {phase}: {len(keys[phase])} assets, {state} ({time.perf_counter() - t:.1f}s)")
        for step_key, message in list(result.failures.items())[:8]:
            console.print(f"   [red]{step_key}[/red]: {message.splitlines()[0][:300]}")
    print_summary(console, defs, results)
    console.print(f"done in {time.perf_counter() - started:.0f}s. `make ui` opens these runs in the Dagster UI.")
    # A sync that waits for a human (e.g. an ad audience under the platform's floor
    # on small sample data) is the engine doing its job, not a failed demo.
    ok = all(
        r.success or all(_waits_for_confirmation(m) for m in r.failures.values())
        for r in results.values()
    )
    return 0 if ok else 1


def _simulate_recipients(console: Any, warehouse: str, seed: int) -> None:
    """The sandboxes' recipients open, click, bounce and reply STOP (deterministic per seed)."""
    from connectors.sandbox_engagement import simulate_sandbox_engagement

    done = simulate_sandbox_engagement(warehouse, seed=seed)
    console.print(f"   sandbox recipients: {done.sendgrid_events:,} email events, "
                  f"{done.twilio_status_changes:,} SMS status changes")


def _scalar(conn: Any, sql: str) -> Any:
    try:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None
    except Exception:
        return None


def _reason(message: str) -> str:
    """The human part of a step failure (Dagster wraps it in exception names and stack traces)."""
    lines = [ln.strip().removeprefix("dagster._core.definitions.events.Failure: ")
             for ln in message.splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("Sync ") or "stopped before sending" in line:
            return line[:300]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return (lines[-1] if lines else "failed")[:300]


def print_summary(console: Any, defs: Any, results: dict) -> None:
    import duckdb
    from rich.table import Table

    from orchestration.assets.catalog import load_audiences, model_relation
    from orchestration.checks.audiences import sync_asset_key
    from orchestration.engagement_summary import engagement_rates
    from orchestration.paths import duckdb_path

    conn = duckdb.connect(str(duckdb_path()), read_only=True)
    try:
        profiles = model_relation("customer_profiles")
        n_profiles = _scalar(conn, f"select count(*) from {profiles[1]}") if profiles else None
        console.print(f"\n[bold]Profiles[/bold]: {n_profiles if n_profiles is not None else 'not built'}")

        syncs = results.get("syncs")
        stopped: list[tuple[str, str]] = []
        table = Table(title="Audiences and syncs")
        for col in ("audience", "members", "destination", "target", "mode", "added", "removed", "sent", "rejected",
                    "parked", "held back", "result"):
            table.add_column(col, justify="right" if col in ("members", "added", "removed", "sent", "rejected",
                                                             "parked") else "left")
        for audience in load_audiences():
            size = _scalar(conn, f"select count(*) from {audience.relation}")
            for sync in audience.syncs:
                meta = (syncs.materialized.get(sync_asset_key(sync)) if syncs else None) or {}
                suppressed = ", ".join(
                    f"{k.removeprefix('held_back_')} {v}" for k, v in sorted(meta.items())
                    if k.startswith("held_back_") and k != "held_back_by_reason" and v
                )
                if meta:
                    status = str(meta.get("result", "success"))
                else:
                    failure = next((m for s, m in (syncs.failures.items() if syncs else []) if sync.name in s), "")
                    status = "stopped (see below)" if failure else "not run"
                    if failure:
                        stopped.append((sync.name, _reason(failure)))
                table.add_row(audience.name, str(size if size is not None else "-"), sync.destination_name,
                              str(meta.get("target", "-")), sync.mode, str(meta.get("added", 0)),
                              str(meta.get("removed", 0)), str(meta.get("sent", 0)), str(meta.get("rejected", 0)),
                              str(meta.get("parked", 0)), suppressed or "-", status)
        console.print(table)
        for name, reason in stopped:
            console.print(f"  [yellow]{name}[/yellow] stopped: {reason}")
        rates = engagement_rates(conn)
        if rates:
            rt = Table(title="Engagement")
            for col in ("channel", "sent", "delivered", "opened", "clicked", "bounced", "unsubscribed"):
                rt.add_column(col)
            for row in rates:
                rt.add_row(*[row.get(c, "-") for c in ("channel", "sent", "delivered", "opened", "clicked",
                                                      "bounced", "unsubscribed")])
            console.print(rt)
        else:
            console.print("Engagement: none pulled back yet")
    finally:
        conn.close()
