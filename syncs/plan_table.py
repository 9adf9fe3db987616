"""A run's plan, diffed once: counted and decided from a table, then sent from another.

Why a table before the counts: a run needs the counts first (the duplicate-key check,
the mass-removal and floor stops, the run's record) and then the rows with work, and
both used to be a query of their own over the whole audience and state (the diff twice:
~2.1 s of a 1M-member run at zero latency). Here the diff is evaluated once into a small
table (`PlanSql.grouped`: a row per verdict and reason, plus the rows with work), the
counts are read from it, and only a run that goes on completes those rows with their
payload and state (`PlanSql.changes_from`) into the numbered plan table it sends from.

A sync that holds nothing at the destination yet (its first run there: no state, no
record status, no write-ahead; `holds_nothing`) skips that middle table: every row of its
plan is an add or a suppressed member, so its rows with work go straight into the plan
table (`PlanSql.work_rows`) and the others are counted from the policies' verdicts
(`PlanSql.first_counts_from`), in one transaction so both see the same audience. At 1M
members (877,511 adds) that took the work before the first request from ~2.2 s of CPU to
~1.3 s (syncs/README.md, Performance notes).

The tables: on DuckDB in an attached in-memory database (PLAN_DB: memory, no WAL: a
plan is rebuilt by the next run anyway, and writing it to the database file cost more
than planning) which, unlike a temporary table, every cursor of the connection sees:
chunks are read on cursors of their own while the main connection commits
(syncs.sending._send_all). Elsewhere tables in ferry_sync, because the Arrow reader is
another connection. Both are named after the sync and the run, so a killed run's are
found and dropped by the next (runs of one sync never overlap: the lease).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from connectors.base import Capabilities
from syncs import state as st
from syncs.config import SyncConfig
from syncs.plan import Plan, counted_plan
from syncs.plan_sql import PlanSql, build_plan_sql
from syncs.warehouse import Warehouse
from syncs.write_ahead import stale_pending

# DuckDB: the in-memory database that holds a run's plan tables.
PLAN_DB = "ferry_plan"


def plan_table_prefix(sync: SyncConfig) -> str:
    return "plan_" + hashlib.md5(sync.name.encode()).hexdigest()[:10] + "_"


def plan_schema(wh: Warehouse) -> tuple[str, str]:
    """(catalog, schema) of the plan tables: DuckDB's in-memory PLAN_DB, else ferry_sync."""
    return (PLAN_DB, "main") if wh.dialect == "duckdb" else ("", st.SCHEMA)


def drop_stale_plans(wh: Warehouse, sync: SyncConfig) -> None:
    """Plan tables left by killed runs of this sync (runs of one sync never overlap)."""
    prefix = plan_table_prefix(sync)
    catalog, schema = plan_schema(wh)
    if catalog:
        wh.execute(f"attach if not exists ':memory:' as {catalog}")
    where = "table_schema = ? and table_name like ?" + (" and table_catalog = ?" if catalog else "")
    params = (schema, prefix + "%", *((catalog,) if catalog else ()))
    for (name,) in wh.fetchall(
        f"select table_name from information_schema.tables where {where}", params
    ):
        wh.execute(f"drop table if exists {catalog + '.' if catalog else ''}{schema}.{name}")


@dataclass(frozen=True)
class PlanTable:
    """The rows a run sends: `name`, its dense row number column `seq` and `rows`.

    The row number is from 1, or on DuckDB the table's rowid (from 0, and stable:
    nothing is ever deleted from it), whose range filters skip straight to the rows,
    where a row_number() column costs a window over the whole change and a scan per read.
    """

    name: str
    seq: str
    rows: int


def holds_nothing(wh: Warehouse, sync: SyncConfig, dkey: str, pending: tuple[str, ...]) -> bool:
    """Whether `sync` holds nothing at `dkey`: no sync_state or record_status row (its own
    or from before destination identity), no killed run's write-ahead, and not send mode
    (whose ledger decides). Then its plan needs no diff against state (`diffed`)."""
    if sync.mode == "send" or pending:
        return False
    mine = "sync_name = ? and (destination_key = ? or destination_key is null)"
    return not any(
        wh.fetchall(f"select 1 from {table} where {mine} limit 1", (sync.name, dkey))
        for table in (st.STATE, st.STATUS)
    )


@dataclass
class Diff:
    """A run's plan, evaluated once (`diffed`): `plan` holds its counts; `changes()`
    writes the rows with work, completed, to the plan table a run sends from (or returns
    it, `ready`, when the diff wrote it already: a sync that holds nothing)."""

    wh: Warehouse
    sql: PlanSql
    grouped: str | None  # the materialized `PlanSql.grouped()`; None: `ready` instead
    table: str  # the name of the plan table `changes()` creates
    plan: Plan
    ready: PlanTable | None = None

    def refresh_fingerprints(self) -> int:
        """Store `payload_fp` for held members the md5 found unchanged but no stored
        fingerprint vouched for (state written before the column existed, or by a DuckDB
        whose `hash()` differs: see `plan_sql.payload_fingerprint`), so the next plan skips
        their md5. One statement, once after an upgrade; returns how many rows the diff
        found stale. Safe at any time: a row is only touched while its `payload_hash` is
        the md5 of the very payload the fingerprint is computed from."""
        if self.grouped is None:
            return 0  # nothing held, nothing for the md5 to vouch for
        [(stale,)] = self.wh.fetchall(PlanSql.stale_from(self.grouped))
        if stale and self.sql.refresh:
            with self.wh.plan_settings(), self.wh.transaction():
                self.wh.execute(self.sql.refresh)
        return int(stale)

    def changes(self) -> PlanTable:
        """Write the rows with work to the plan table (only those, completed).

        Why a table rather than streaming the query: an open read would pin the snapshot
        while every batch commits, so the warehouse keeps all intermediate versions
        (memory and time grow with the run). Chunks read by row number are short
        queries; the table also makes the write-ahead exactly the set that is sent, and
        each batch's commit is written from it in SQL.
        """
        if self.ready is not None:
            return self.ready
        assert self.grouped is not None
        with self.wh.plan_settings():
            _create_plan_table(self.wh, self.table, *self.sql.changes_from(self.grouped))
        self.wh.execute(f"drop table if exists {self.grouped}")  # its memory, while sending
        return _plan_table(self.wh, self.table)


def _create_plan_table(wh: Warehouse, table: str, changes: str, params: list[str]) -> None:
    """`table` from the rows of `changes`, numbered: DuckDB's rowid, else a `__seq` column."""
    if wh.dialect != "duckdb":
        changes = f"select row_number() over () as __seq, c.* from ({changes}) c"
    wh.execute(f"create table {table} as {changes}", params)


def _plan_table(wh: Warehouse, table: str) -> PlanTable:
    [(rows,)] = wh.fetchall(f"select count(*) from {table}")
    return PlanTable(table, "rowid" if wh.dialect == "duckdb" else "__seq", int(rows))


@contextmanager
def diffed(
    sync: SyncConfig,
    wh: Warehouse,
    run_id: str,
    dkey: str,
    capabilities: Capabilities | None,
    target: str = "",
    *,
    first_sync: bool = True,
) -> Iterator[Diff]:
    """Diff `sync` against its state at `dkey` once, for a run (ferry_sync must exist):
    the plan's counts come from the materialized diff. Its tables are dropped on exit.
    `first_sync=False`: diff a sync that holds nothing like any other (tests compare)."""
    drop_stale_plans(wh, sync)
    catalog, schema = plan_schema(wh)
    table = f"{catalog + '.' if catalog else ''}{schema}.{plan_table_prefix(sync)}{run_id[:12]}"
    grouped = f"{table}_diff"
    pending = stale_pending(wh, sync, dkey)
    sql = build_plan_sql(sync, wh, True, pending, destination_key=dkey)
    try:
        if first_sync and holds_nothing(wh, sync, dkey, pending):
            work_sql, params = sql.work_rows()
            # DuckDB: memory cap, no insertion order (results unchanged); one snapshot for
            # the plan table and the counts of what is not in it.
            with wh.plan_settings(), wh.transaction(snapshot=True):
                _create_plan_table(wh, table, work_sql, params)
                rows = wh.fetchall(*sql.first_counts_from(table))
            plan = counted_plan(
                sync, wh, rows, dkey, pending, capabilities, sql=work_sql, target=target
            )
            yield Diff(wh, sql, None, table, plan, _plan_table(wh, table))
            return
        grouped_sql, params = sql.grouped()
        with wh.plan_settings():  # DuckDB: memory cap, no insertion order (results unchanged)
            wh.execute(f"create table {grouped} as {grouped_sql}", params)
        rows = wh.fetchall(PlanSql.counts_from(grouped))
        plan = counted_plan(
            sync, wh, rows, dkey, pending, capabilities, sql=grouped_sql, target=target
        )
        yield Diff(wh, sql, grouped, table, plan)
    finally:
        for name in (table, grouped):
            wh.execute(f"drop table if exists {name}")
