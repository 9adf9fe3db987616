"""Bulk writes into DuckDB: each Arrow table becomes one `create table as select`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from orchestration.sample_data.context import RawTable


def ground_truth(tables: list[RawTable], person_ids: np.ndarray) -> pa.Table:
    """(source, source_record_id, person_id, loader_id) for every raw record."""
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
            "generator_version": pa.array(["1"]),
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
