"""`ferry sync`: plan (dry run), run and inspect audience syncs from the command line.

    ferry sync list
    ferry sync plan <sync> [--json] [--sample N]
    ferry sync run <sync> [--confirm]      ferry sync run --all [--confirm]
    ferry sync parked <sync>               ferry sync unpark <sync> [--key K ...]
    ferry sync erasures                    (erasures a destination has not confirmed yet)
    ferry sync reset <sync> [--yes]

The warehouse is the active dbt target's (FERRY_DBT_TARGET, or `--target`): the
DuckDB file or a PostgreSQL server, as dbt_project/profiles.yml says. Every plan
and run names where it reads (the target) and where it sends (`sandbox` or the
tool's host). A sync whose declaration is broken does not stop the others:
`list` prints its error, `plan`/`run` of that sync fail with it.

Exit code: 0 when every run succeeded, 2 when a run stopped for confirmation
(mass removal, empty audience) and nothing failed, 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration.paths import DBT_PROJECT_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sync", help="plan, run and inspect audience syncs")
    p.add_argument("--target", default=None, help="dbt target (default: the profile's, FERRY_DBT_TARGET)")
    p.add_argument("--duckdb", type=Path, default=None, help="DuckDB file of a duckdb target (default: FERRY_DUCKDB_PATH)")
    p.add_argument("--manifest", type=Path, default=None, help="dbt manifest (default: $DBT_TARGET_PATH or dbt_project/target, /manifest.json)")
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

    reset = sub.add_parser(
        "reset", help="forget what a sync holds at its destination (state, statuses, send ledger)"
    )
    reset.add_argument("sync")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(func=cmd_reset)


def _declarations(args: argparse.Namespace) -> Any:
    """Every sync that loads, plus the errors of those that do not (syncs.config.SyncLoad)."""
    from syncs.config import load_sync_declarations

    manifest = args.manifest or _dbt_target_path() / "manifest.json"
    destinations = args.destinations or DBT_PROJECT_DIR / "destinations.yml"
    _check_manifest(args, manifest)
    return load_sync_declarations(manifest, destinations)


def _dbt_target_path() -> Path:
    """Where `dbt build` wrote its manifest: DBT_TARGET_PATH (dbt's own variable, relative
    to the dbt project), default dbt_project/target."""
    return DBT_PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target")


def _load(args: argparse.Namespace) -> list[Any]:
    """The valid syncs; the others are named on stderr (`ferry sync list` shows why)."""
    loaded = _declarations(args)
    if loaded.errors:
        print(
            f"note: {len(loaded.errors)} sync declaration(s) did not load (`ferry sync list` shows them)",
            file=sys.stderr,
        )
    return loaded.syncs


def _find(args: argparse.Namespace, name: str) -> Any:
    """One sync by name: strict for that sync (its own load error), whatever the others."""
    return _declarations(args).find(name)


def _target(args: argparse.Namespace) -> Any:
    from orchestration.warehouse_target import active_target

    return active_target(args.target, args.duckdb)


def _check_manifest(args: argparse.Namespace, manifest: Path) -> None:
    from orchestration.warehouse_target import check_manifest

    check_manifest(manifest, _target(args))


def _connect(args: argparse.Namespace, read_only: bool = False) -> Any:
    return _target(args).connect(read_only=read_only)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (declarations, credentials, warehouse): one line, exit 1."""
    from connectors.base import MissingCredentials
    from orchestration.warehouse_target import WarehouseTargetError
    from syncs.config import SyncConfigError
    from syncs.policies import PolicyTableMissing
    from syncs.registry import DestinationUnavailable

    return (SyncConfigError, WarehouseTargetError, MissingCredentials, DestinationUnavailable, PolicyTableMissing)


def target_label(destination: Any) -> str:
    """`sandbox` or the tool's host (a destination without the attribute: its type)."""
    return str(getattr(destination, "target_label", None) or getattr(destination, "name", "destination"))


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from syncs.history import last_run_started

    try:
        loaded = _declarations(args)
        target = _target(args)
        conn = target.connect(read_only=True)
    except _user_errors() as exc:
        return _fail(str(exc))
    table = Table(title=f"Syncs in {target.label}")
    for col in ("sync", "audience", "destination", "mode", "channel", "schedule", "last run"):
        table.add_column(col)
    for s in loaded.syncs:
        last = last_run_started(conn, s.name)
        table.add_row(s.name, s.relation, f"{s.destination_name} ({s.destination.type})", s.mode, s.channel,
                      s.schedule or "manual", last.isoformat(timespec="seconds") if last else "never")
    console = Console()
    console.print(table)
    for name, message in loaded.errors.items():
        console.print(f"[red]not loaded[/] {name}: {message}", markup=True, highlight=False)
    return 1 if loaded.errors else 0


def cmd_plan(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from syncs import engine
    from syncs.registry import build_destination

    try:
        sync = _find(args, args.sync)
        target = _target(args)
        destination = build_destination(sync.destination, sync=sync)
        conn = target.connect(read_only=True)
        plan = engine.plan(sync, conn, dry_run=True, sample_size=args.sample, destination=destination)
    except (*_user_errors(), ValueError) as exc:
        return _fail(str(exc))
    sends_to = target_label(destination)
    if args.json:
        out = plan.to_dict()
        out.update(
            warehouse=target.label,
            target=sends_to,
            destination_identity=getattr(destination, "destination_identity", None),
        )
        print(json.dumps(out, default=str, indent=2))
        return 0
    console = Console()
    table = Table(
        title=f"Plan for {sync.name} ({sync.mode} -> {sync.destination_name} at {sends_to}) - dry run, nothing sent"
    )
    table.add_column("operation")
    table.add_column("records", justify="right")
    for op, n in plan.counts.items():
        if n:
            table.add_row(op, f"{n:,}")
    for reason, n in sorted(plan.suppressed.items()):
        table.add_row(f"  suppressed: {reason}", f"{n:,}")
    console.print(table)
    console.print(plan.headline(), highlight=False)
    console.print(f"warehouse {target.label}; destination {sends_to}", highlight=False)
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
    from syncs.registry import build_destination

    console = Console(stderr=args.json)
    try:
        target = _target(args)
        chosen = [_find(args, args.sync)] if not args.all else None
        conn = target.connect()
        if chosen is None:
            chosen = _due(_load(args), conn)
    except _user_errors() as exc:
        return _fail(str(exc))
    if not chosen:
        console.print("no sync is due")
        return 0
    console.print(f"warehouse {target.label}", highlight=False)
    results: list[dict[str, Any]] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    ) as progress:
        for sync in chosen:
            task = progress.add_task(sync.name, total=None)

            def on_progress(done: int, total: int, task: Any = task) -> None:
                progress.update(task, completed=done, total=max(total, 1))

            sends_to = ""
            try:
                destination = build_destination(sync.destination, sync=sync)
                sends_to = target_label(destination)
                progress.update(task, description=f"{sync.name} -> {sends_to}")
                result = engine.run(sync, conn, destination, confirm=args.confirm, progress=on_progress)
                row = result.to_dict()
            except Exception as exc:  # one broken sync must not stop the others
                row = {"sync": sync.name, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
            row["target"] = sends_to or "not built"
            progress.update(task, total=progress.tasks[task].total or 1, completed=progress.tasks[task].total or 1)
            results.append(row)
    if args.json:
        print(json.dumps(results, default=str, indent=2))
    else:
        table = Table(title=f"Sync runs ({target.label})")
        cols = ("sync", "target", "status", "add", "update", "remove", "sent", "failed", "parked", "pending",
                "suppressed", "seconds")
        for col in cols:
            table.add_column(col, justify="left" if col in ("sync", "target", "status") else "right")
        for r in results:
            planned = r.get("planned") or {}
            style = {"success": "green", "needs_confirmation": "yellow"}.get(r["status"], "red")
            table.add_row(
                r["sync"], r["target"], f"[{style}]{r['status']}[/]",
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

    from syncs.history import parked

    try:
        sync = _find(args, args.sync)
        rows = parked(_connect(args, read_only=True), sync.name)
    except _user_errors() as exc:
        return _fail(str(exc))
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

    syncs = _load(args)
    schema = syncs[0].marts_schema if syncs else "marts"
    rows = pending_erasures(_connect(args, read_only=True), schema)
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
    from syncs.history import unpark

    try:
        sync = _find(args, args.sync)
        released = unpark(_connect(args), sync.name, args.key)
    except _user_errors() as exc:
        return _fail(str(exc))
    print(f"released {released} parked record(s) of {sync.name}; the next run retries them")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    """Forget what a sync holds: its next run starts from empty state (a full sync).

    Clears the sync's rows of sync_state, record_status and send_ledger; keeps
    runs and record_results (the audit trail). The sync need not load (a broken
    or removed declaration can still be reset by name).
    """
    from orchestration.sync_reset import count_rows, reset_sync
    from syncs.lease import holder_of
    from syncs.warehouse import Warehouse

    try:
        target = _target(args)
        conn = target.connect()
    except _user_errors() as exc:
        return _fail(str(exc))
    holder = holder_of(Warehouse(conn), args.sync)
    if holder:
        return _fail(f"sync {args.sync} is running (run {holder[0][:8]}): reset it once the run has ended")
    counts = count_rows(conn, args.sync)
    if not any(counts.values()):
        print(f"sync {args.sync} has no state in {target.label}: nothing to clear")
        return 0
    what = ", ".join(f"{n:,} {table}" for table, n in counts.items())
    print(f"sync {args.sync} in {target.label}: {what}")
    print("runs and record_results are kept for audit; the next run re-sends every member (full sync).")
    if not args.yes:
        answer = input(f"type the sync name to clear its state ({args.sync}): ").strip()
        if answer != args.sync:
            print("not cleared")
            return 1
    cleared = reset_sync(conn, args.sync)
    print(f"cleared {', '.join(f'{n:,} rows of {t}' for t, n in cleared.items())} for sync {args.sync}")
    return 0
