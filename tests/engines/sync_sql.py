"""Every SQL statement the sync engine generates, collected for the transpile test.

Two sources, both in the engine's own dialect (DuckDB):
- the statements of real runs: each mode (upsert, mirror, insert, send, delete) run
  twice against a DuckDB warehouse and the in-memory loopback destination, with
  `syncs.warehouse.transpile` (the one function every engine statement passes
  through) recording what it is given;
- the plan queries (counts, changes, sample; before and after state exists) of every
  sync the project's audiences declare, generated from the dbt manifest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from syncs import engine, warehouse
from syncs import state as st
from syncs.config import load_syncs
from syncs.history import pending_erasures
from syncs.plan_sql import build_plan_sql
from tests.syncs.conftest import create_warehouse, make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination

MODES = ("upsert", "mirror", "insert", "send", "delete")


def _shape(sql: str) -> str:
    """A statement with its literals blanked, to keep one example per statement shape."""
    return re.sub(r"'[^']*'|\b\d+\b", "?", " ".join(sql.split()))


def recorded_run_sql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """name -> statement, for every distinct statement real runs issue in every mode."""
    seen: dict[str, str] = {}
    original = warehouse.transpile

    def recording(sql: str, dialect: str) -> str:
        seen.setdefault(_shape(sql), sql)
        return original(sql, dialect)

    monkeypatch.setattr(warehouse, "transpile", recording)
    # Column compression is DuckDB's own clause, given only on DuckDB
    # (Warehouse.string_compression): every other warehouse gets these statements without it.
    monkeypatch.setattr(warehouse.Warehouse, "string_compression", lambda self: "")
    conn = duckdb.connect(str(tmp_path / "engine.duckdb"))
    try:
        create_warehouse(conn)
        for mode in MODES:
            sync = make_sync(mode, policies={"pressure_cap": 5.0})
            destination = LoopbackDestination()
            set_audience(
                conn,
                [
                    (f"p{i}", f"u{i}@x.com", "A", "holdout" if i == 0 else "t", "2026-01")
                    for i in range(6)
                ],
            )
            # No sample here: with one, DuckDB plans it from keys its counts query
            # collects with min(x, n), a path the engine takes on DuckDB only
            # (engine.plan, `keyed_sample`). Elsewhere the sample is PlanSql.sample,
            # which declared_plan_sql below transpiles for every declared sync.
            engine.plan(sync, conn, sample_size=0)
            engine.run(sync, conn, destination)
            set_audience(conn, [(f"p{i}", f"u{i}@x.com", "B", "t", "2026-02") for i in range(2, 8)])
            engine.run(sync, conn, destination, confirm=True)
        # Erasure: held records deleted, audience rows suppressed, send ledgers scrubbed.
        conn.execute("create table marts.erased_profiles (profile_id varchar, erased_at timestamp)")
        conn.execute("insert into marts.erased_profiles values ('p3', now())")
        for mode in MODES:
            sync = make_sync(mode, policies={"pressure_cap": 5.0})
            engine.plan(sync, conn, sample_size=0)
            engine.run(sync, conn, LoopbackDestination(), confirm=True)
        pending_erasures(conn)
    finally:
        conn.close()
    return {f"syncs:run:{i:03d}": sql for i, sql in enumerate(seen.values())}


class _DeclaredWarehouse:
    """Answers build_plan_sql's catalogue questions from the sync config itself: the
    audience has the columns the sync maps, a variant, and every policy mart exists."""

    dialect = warehouse.SOURCE_DIALECT

    def __init__(self, columns: list[str]) -> None:
        self._columns = columns

    def columns(self, schema: str, table: str) -> list[str]:
        if schema == st.SCHEMA:
            return list(st.STATE_COLUMNS)
        return self._columns

    def table_exists(self, schema: str, table: str) -> bool:
        return True


def _audience_columns(sync: Any) -> list[str]:
    cols = {sync.key, "profile_id", "variant", *(c for c, _ in sync.payload_columns().values())}
    if sync.occurrence:
        cols.add(sync.occurrence)
    return sorted(cols)


def declared_plan_sql(manifest: Path, destinations: Path) -> Iterator[tuple[str, str]]:
    """(name, plan statement) for every sync the audiences declare."""
    for sync in load_syncs(manifest, destinations):
        wh = _DeclaredWarehouse(_audience_columns(sync))
        for ready in (False, True):
            plan = build_plan_sql(sync, wh, ready, destination_key="declared")  # type: ignore[arg-type]
            for kind, (sql, _params) in (
                ("counts", plan.counts()),
                ("changes", plan.changes()),
                ("grouped", plan.grouped()),  # a run's one diff (syncs.plan_table)
                ("changes_from", plan.changes_from("ferry_sync.plan_diff")),
                ("work_rows", plan.work_rows()),  # a first sync's plan table
                ("first_counts_from", plan.first_counts_from("ferry_sync.plan_work")),
                ("sample", plan.sample(10)),
            ):
                yield f"syncs:plan:{sync.name}:{kind}:{'state' if ready else 'nostate'}", sql
