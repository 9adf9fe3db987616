"""`ferry sync`: plan (dry run), run and inspect audience syncs from the command line.

    ferry sync list
    ferry sync plan <sync> [--json] [--sample N]
    ferry sync run <sync> [--confirm]      ferry sync run --all [--confirm]
    ferry sync parked <sync>               ferry sync unpark <sync> [--key K ...]
    ferry sync erasures                    (erasures a destination has not confirmed yet)

Exit code: 0 when every run succeeded, 2 when a run stopped for confirmation
(mass removal, empty audience) and nothing failed, 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.paths import DBT_PROJECT_DIR, duckdb_path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sync", help="plan, run and inspect audience syncs")
    p.add_argument("--duckdb", type=Path, default=None, help="DuckDB file (default: FERRY_DUCKDB_PATH)")
    p.add_argument("--manifest", type=Path, default=None, help="dbt manifest (default: dbt_project/target/manifest.json)")
    p.add_argument("--destinations", type=Path, default=None, help="default: dbt_project/destinations.yml")
    sub = p.add_subparsers(dest="sync_command", required=True)

    sub.add_parser("list", help="every declared sync, its schedule and last run").set_defaults(func=cmd_list)

    plan = sub.add_parser("plan", help="dry run: counts, suppressed by reason, masked sample; sends nothing")
    plan.add_argument("sync")
    plan.add_argument("--sample", type=int, default=10)
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--sql", action="store_true", help="also print the plan SQL")
    plan.set_defaults(func=cmd_plan)

    run = sub.add_parser("run", help="run one sync, or every due sync with --all")
    target = run.add_mutually_exclusive_group(required=True)
    target.add_argument("sync", nargs="?")
    target.add_argument("--all", action="store_true", help="every sync whose schedule is due")
    run.add_argument("--confirm", action="store_true", help="go ahead past a safety stop (mass removal)")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_run)

    parked = sub.add_parser("parked", help="records parked for review, with their errors")
    parked.add_argument("sync")
    parked.set_defaults(func=cmd_parked)

    erasures = sub.add_parser(
        "erasures", help="erasures not yet confirmed by a destination that held the person"
    )
    erasures.add_argument("--json", action="store_true")
    erasures.set_defaults(func=cmd_erasures)

    unpark = sub.add_parser("unpark", help="release reviewed parked records so the next run retries them")
    unpark.add_argument("sync")
    unpark.add_argument("--key", action="append", help="record key (repeatable); default: every parked record")
    unpark.set_defaults(func=cmd_unpark)


def _load(args: argparse.Namespace) -> list[Any]:
    from syncs.config import load_syncs

    manifest = args.manifest or DBT_PROJECT_DIR / "target" / "manifest.json"
    destinations = args.destinations or DBT_PROJECT_DIR / "destinations.yml"
    return load_syncs(manifest, destinations)


def _connect(args: argparse.Namespace, read_only: bool = False) -> Any:
    import duckdb

    path = (args.duckdb or duckdb_path()).resolve()
    if not path.exists():
        raise SystemExit(f"warehouse {path} not found (run `ferry generate` and `dbt build` first)")
    return duckdb.connect(str(path), read_only=read_only)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from syncs.config import SyncConfigError
    from syncs.history import last_run_started

    try:
        syncs = _load(args)
    except SyncConfigError as exc:
        return _fail(str(exc))
    conn = _connect(args, read_only=True)
    table = Table(title="Syncs")
    for col in ("sync", "audience", "destination", "mode", "channel", "schedule", "last run"):
        table.add_column(col)
    for s in syncs:
        last = last_run_started(conn, s.name)
        table.add_row(s.name, s.relation, f"{s.destination_name} ({s.destination.type})", s.mode, s.channel,
                      s.schedule or "manual", last.isoformat(timespec="seconds") if last else "never")
    Console().print(table)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from syncs import engine
    from syncs.config import SyncConfigError, find_sync
    from syncs.policies import PolicyTableMissing

    try:
        sync = find_sync(_load(args), args.sync)
        conn = _connect(args, read_only=True)
        plan = engine.plan(sync, conn, dry_run=True, sample_size=args.sample)
    except (SyncConfigError, PolicyTableMissing, ValueError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(plan.to_dict(), default=str, indent=2))
        return 0
    console = Console()
    table = Table(title=f"Plan for {sync.name} ({sync.mode} -> {sync.destination_name}) - dry run, nothing sent")
    table.add_column("operation")
    table.add_column("records", justify="right")
    for op, n in plan.counts.items():
        if n:
            table.add_row(op, f"{n:,}")
    for reason, n in sorted(plan.suppressed.items()):
        table.add_row(f"  suppressed: {reason}", f"{n:,}")
    console.print(table)
    console.print(f"audience {plan.audience_size:,}, eligible {plan.eligible:,}, held at destination {plan.held:,}")
    if plan.stop_reason:
        console.print(f"[bold yellow]a run would stop for confirmation:[/] {plan.stop_reason}")
    if plan.sample:
        sample = Table(title="Sample (PII masked)")
        for col in ("key", "operation", "payload"):
            sample.add_column(col)
        for row in plan.sample:
            sample.add_row(str(row["key"]), row["operation"], json.dumps(row["payload"], default=str))
        console.print(sample)
    if args.sql:
        console.print(plan.sql, markup=False)
    return 0


def _due(syncs: list[Any], conn: Any) -> list[Any]:
    from syncs.history import last_run_started
    from syncs.schedule import is_due

    now = datetime.now(UTC).replace(tzinfo=None)
    return [s for s in syncs if is_due(s.schedule, last_run_started(conn, s.name), now)]


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from syncs import engine
    from syncs.config import SyncConfigError, find_sync
    from syncs.registry import build_destination

    console = Console(stderr=args.json)
    try:
        syncs = _load(args)
        conn = _connect(args)
        chosen = _due(syncs, conn) if args.all else [find_sync(syncs, args.sync)]
    except SyncConfigError as exc:
        return _fail(str(exc))
    if not chosen:
        console.print("no sync is due")
        return 0
    results: list[dict[str, Any]] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        for sync in chosen:
            task = progress.add_task(sync.name, total=None)

            def on_progress(done: int, total: int, task: Any = task) -> None:
                progress.update(task, completed=done, total=max(total, 1))

            try:
                destination = build_destination(sync.destination, sync=sync)
                result = engine.run(sync, conn, destination, confirm=args.confirm, progress=on_progress)
                row = result.to_dict()
            except Exception as exc:  # one broken sync must not stop the others
                row = {"sync": sync.name, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            progress.update(task, total=progress.tasks[task].total or 1, completed=progress.tasks[task].total or 1)
            results.append(row)
    if args.json:
        print(json.dumps(results, default=str, indent=2))
    else:
        table = Table(title="Sync runs")
        cols = ("sync", "status", "add", "update", "remove", "sent", "failed", "parked", "pending", "suppressed", "seconds")
        for col in cols:
            table.add_column(col, justify="left" if col in ("sync", "status") else "right")
        for r in results:
            planned = r.get("planned") or {}
            style = {"success": "green", "needs_confirmation": "yellow"}.get(r["status"], "red")
            table.add_row(
                r["sync"], f"[{style}]{r['status']}[/]",
                *(str(planned.get(k, "")) for k in ("add", "update", "remove")),
                *(str(r.get(k, "")) for k in ("sent", "failed", "parked")),
                str((r.get("pending") or 0) + (r.get("in_doubt") or 0)) if "pending" in r else "",
                str(sum((r.get("suppressed") or {}).values())),
                f"{r.get('duration_s', 0):.1f}",
            )
        console.print(table)
        for r in results:
            if r.get("error"):
                console.print(f"[bold]{r['sync']}[/]: {r['error']}", markup=True, highlight=False)
    statuses = {r["status"] for r in results}
    if statuses <= {"success"}:
        return 0
    if statuses <= {"success", "needs_confirmation"}:
        return 2
    return 1


def cmd_parked(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from syncs.config import SyncConfigError, find_sync
    from syncs.history import parked

    try:
        sync = find_sync(_load(args), args.sync)
    except SyncConfigError as exc:
        return _fail(str(exc))
    rows = parked(_connect(args, read_only=True), sync.name)
    table = Table(title=f"Parked records of {sync.name} ({len(rows)})")
    for col in ("record_key", "operation", "attempts", "error", "since"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("record_key", "operation", "attempts", "error", "since")))
    Console().print(table)
    return 0


def cmd_erasures(args: argparse.Namespace) -> int:
    """Exit 0 when every erasure reached every destination that held the person, else 1."""
    from rich.console import Console
    from rich.table import Table

    from syncs.history import pending_erasures

    rows = pending_erasures(_connect(args, read_only=True))
    if args.json:
        print(json.dumps(rows, default=str, indent=2))
    else:
        table = Table(title=f"Erasures not yet confirmed ({sum(r['pending'] for r in rows)})")
        for col in ("sync", "destination", "pending", "oldest_request", "last_error"):
            table.add_column(col)
        for r in rows:
            table.add_row(*(str(r[c] or "") for c in ("sync", "destination", "pending", "oldest_request", "last_error")))
        Console().print(table)
    return 1 if rows else 0


def cmd_unpark(args: argparse.Namespace) -> int:
    from syncs.config import SyncConfigError, find_sync
    from syncs.history import unpark

    try:
        sync = find_sync(_load(args), args.sync)
    except SyncConfigError as exc:
        return _fail(str(exc))
    released = unpark(_connect(args), sync.name, args.key)
    print(f"released {released} parked record(s) of {sync.name}; the next run retries them")
    return 0
