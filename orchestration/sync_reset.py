"""`ferry sync reset`: forget what one sync holds at its destination.

Why a command: after re-pointing a sync by hand, restoring a destination from a
backup, or emptying a list at the tool, the state in the warehouse no longer
says what the destination holds; the only honest next run is a full one. Plain
SQL on the engine's own tables (names from ``syncs.state``): the sync's rows of
``sync_state``, ``record_status`` and ``send_ledger`` go, in one transaction;
``runs`` and ``record_results`` stay as the audit trail of what was sent.
"""

from __future__ import annotations

from typing import Any

from syncs.state import LEDGER, STATE, STATUS
from syncs.warehouse import Warehouse

RESET_TABLES = (STATE, STATUS, LEDGER)


def _present(wh: Warehouse) -> list[str]:
    return [t for t in RESET_TABLES if wh.table_exists(*t.split("."))]


def count_rows(conn: Any, sync: str) -> dict[str, int]:
    """Rows the reset would clear, per table (tables not created yet count 0)."""
    wh = Warehouse(conn)
    out = {t.split(".")[1]: 0 for t in RESET_TABLES}
    for table in _present(wh):
        row = wh.fetchone(f"select count(*) from {table} where sync_name = ?", (sync,))
        out[table.split(".")[1]] = int(row[0]) if row else 0
    return out


def reset_sync(conn: Any, sync: str) -> dict[str, int]:
    """Delete the sync's state rows in one transaction; returns the rows cleared per table."""
    wh = Warehouse(conn)
    counts = count_rows(conn, sync)
    with wh.transaction():
        for table in _present(wh):
            wh.execute(f"delete from {table} where sync_name = ?", (sync,))
    return counts
