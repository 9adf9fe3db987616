"""Bulk writes into DuckDB: each Arrow table becomes one `create table as select`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from sample_data.context import RawTable

# The table holding a system's accounts (one customer id each): a duplicate of a
# person who has another, non-duplicate, row there is a second account; any other
# duplicate is a new contact (forms hold no customer id: always new contacts).
ACCOUNT_TABLES = {
    "crm": "crm_contacts",
    "shop": "shop_customers",
    "support": "support_tickets",
    "product": "product_users",
}


def duplicate_kinds(tables: list[RawTable]) -> dict[str, np.ndarray]:
    """Per table, each row's duplicate kind: None, 'new_contact', 'second_account', or
    the kind a source set itself (duplicates.CRM_INTERNAL_KINDS)."""
    with_account: dict[str, np.ndarray] = {}
    for t in tables:
        for system, account_table in ACCOUNT_TABLES.items():
            if t.name == account_table:
                own = t.person_idx if t.fuzzy is None else t.person_idx[~t.fuzzy]
                with_account[system] = np.unique(own)
    kinds: dict[str, np.ndarray] = {}
    for t in tables:
        n = t.table.num_rows
        kind = np.full(n, None, dtype=object)
        if t.fuzzy is not None and t.fuzzy.any():
            accounts = with_account.get(t.name.split("_", 1)[0], np.zeros(0, np.int64))
            second = np.isin(t.person_idx, accounts)
            kind[t.fuzzy] = np.where(second[t.fuzzy], "second_account", "new_contact")
        if t.kinds is not None:
            own_kind = np.array([k is not None for k in t.kinds], dtype=bool)
            kind = np.where(own_kind, t.kinds, kind)
        kinds[t.name] = kind
    return kinds


def ground_truth(tables: list[RawTable], person_ids: np.ndarray) -> pa.Table:
    """(source, source_record_id, person_id, loader_id, is_fuzzy_duplicate,
    duplicate_kind) for every raw record."""
    kinds = duplicate_kinds(tables)
    parts = []
    for t in tables:
        n = t.table.num_rows
        key = t.table.column(t.key).cast(pa.string())
        parts.append(
            pa.table(
                {
                    "source": pa.array(np.full(n, t.name)),
                    "source_record_id": key,
                    "person_id": pa.array(person_ids[t.person_idx]),
                    "loader_id": t.table.column("_loader_id"),
                    "is_fuzzy_duplicate": pa.array(
                        t.fuzzy if t.fuzzy is not None else np.zeros(n, bool)
                    ),
                    "duplicate_kind": pa.array(kinds[t.name], pa.string()),
                }
            )
        )
    return pa.concat_tables(parts)


def write_tables(
    duckdb_path: Path, tables: list[RawTable], *, people: int, seed: int, as_of: dt.date
) -> dict[str, int]:

    duckdb_path = Path(duckdb_path)
    duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    pid = np.char.add("P", np.char.zfill(np.arange(people).astype(str), 7))
    truth = ground_truth(tables, pid)
    info = pa.table(
        {
            "seed": pa.array([seed], pa.int64()),
            "people": pa.array([people], pa.int64()),
            "as_of_date": pa.array([as_of], pa.date32()),
            "generator_version": pa.array(["2"]),
        }
    )
    counts: dict[str, int] = {}
    with duckdb.connect(str(duckdb_path)) as con:
        # Fully qualified: a file named raw.duckdb would make "raw" ambiguous.
        catalog = con.execute("select current_database()").fetchone()[0].replace('"', '""')
        con.execute(f'create schema if not exists "{catalog}".raw')
        con.execute("begin")
        for name, table in [(t.name, t.table) for t in tables] + [
            ("ground_truth", truth),
            ("generation_info", info),
        ]:
            con.register("_arrow_in", table)
            con.execute(
                f'create or replace table "{catalog}".raw.{name} as select * from _arrow_in'
            )
            con.unregister("_arrow_in")
            counts[name] = table.num_rows
        con.execute("commit")
    return counts
