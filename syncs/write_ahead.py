"""A killed run's write-ahead: the adds that may have reached the destination.

A run records every add it is about to send in tables of its own, a window of plan
rows each, every window committed before the requests that carry its rows
(`Runner.write_ahead`, `syncs.write_ahead_windows`); the tables are dropped once
every batch that left is committed. Tables still there belong to a killed run: the
next run folds them into `sync_state` as PENDING_ADD markers, and plans count them
until then.
"""

from __future__ import annotations

import hashlib

from syncs import state as st
from syncs.config import SyncConfig
from syncs.plan_sql import PENDING_ADD
from syncs.warehouse import Warehouse


def pending_prefix(sync: SyncConfig, dkey: str) -> str:
    """Per sync and destination: a killed run's write-ahead belongs to the target it wrote to."""
    return "pending_" + hashlib.md5(f"{sync.name}\x1f{dkey}".encode()).hexdigest()[:10] + "_"


def stale_pending(wh: Warehouse, sync: SyncConfig, dkey: str) -> tuple[str, ...]:
    """Write-ahead tables of this sync's runs (to this destination) killed before they finished."""
    rows = wh.fetchall(
        "select table_name from information_schema.tables where table_schema = ? and table_name like ? "
        "order by table_name",
        (st.SCHEMA, pending_prefix(sync, dkey) + "%"),
    )
    return tuple(f"{st.SCHEMA}.{name}" for (name,) in rows)


def fold_pending(wh: Warehouse, sync: SyncConfig, run_id: str, dkey: str) -> None:
    """Turn a killed run's write-ahead into PENDING_ADD markers in sync_state, in one commit.

    Keys already in sync_state were committed by the killed run (or held before): they
    keep their state. The others may have reached the destination: marked, they re-plan
    as add (or as remove, in mirror mode, if the member left).
    """
    tables = stale_pending(wh, sync, dkey)
    if not tables:
        return
    marked = " union all ".join(f"select record_key, identifiers_json from {t}" for t in tables)
    with wh.transaction():
        wh.execute(
            f"insert into {st.STATE} (sync_name, record_key, payload_hash, identifiers_json, synced_at, run_id, "
            "destination_key) "
            f"select ?, m.record_key, ?, max(m.identifiers_json), ?, ?, ? from ({marked}) m "
            f"where not exists (select 1 from {st.STATE} s where s.sync_name = ? and s.destination_key = ? "
            "and s.record_key = m.record_key) group by m.record_key",
            [sync.name, PENDING_ADD, st.utc_now(), run_id, dkey, sync.name, dkey],
        )
        for table in tables:
            wh.execute(f"drop table {table}")
