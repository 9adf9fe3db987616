"""Read back what the generator recorded about a warehouse (raw.generation_info)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb


def reference_date(duckdb_path: Path) -> dt.date | None:
    """The reference date the sample data was generated for, or None when the
    warehouse holds no generated data. Pass it to dbt as ``--vars
    '{ferry_as_of: <date>}'`` so "last 24 hours" audiences match the data."""
    if not Path(duckdb_path).exists():
        return None
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = 'generation_info'"
        ).fetchone()[0]
        if not exists:
            return None
        row = con.execute("select max(as_of_date) from raw.generation_info").fetchone()
    return row[0] if row else None
