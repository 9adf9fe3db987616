"""Copy a DuckDB file's `raw` schema into another warehouse, in bulk.

Why Arrow + ADBC: DuckDB's postgres extension is downloaded on first use (no
network here), and row-by-row INSERTs would dominate a test's time. DuckDB hands
each table out as Arrow; the ADBC PostgreSQL driver's ingest writes it with
COPY ... (FORMAT binary). One code path, no per-row Python.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa


def raw_tables(duckdb_file: Path, schema: str = "raw") -> dict[str, pa.Table]:
    """Every table of `schema` in the DuckDB file, as Arrow."""
    with duckdb.connect(str(duckdb_file), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = ? and table_type = 'BASE TABLE' order by table_name",
                [schema],
            ).fetchall()
        ]
        return {
            name: con.sql(f'select * from "{schema}"."{name}"').to_arrow_table() for name in names
        }


def _postgres_compatible(table: pa.Table) -> pa.Table:
    """Arrow types the ADBC driver maps cleanly (large/view strings -> string; tz-aware kept)."""
    fields = []
    for field in table.schema:
        t = field.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_unsigned_integer(t):
            t = pa.int64()
        fields.append(pa.field(field.name, t))
    return table.cast(pa.schema(fields))


def copy_raw_to_postgres(duckdb_file: Path, uri: str, schema: str = "raw") -> dict[str, int]:
    """Recreate `schema` in PostgreSQL from the DuckDB file; returns rows per table."""
    import adbc_driver_postgresql.dbapi as pg

    tables = raw_tables(duckdb_file, schema)
    counts: dict[str, int] = {}
    with pg.connect(uri) as conn:
        with conn.cursor() as cur:
            cur.execute(f'drop schema if exists "{schema}" cascade')
            cur.execute(f'create schema "{schema}"')
            for name, table in tables.items():
                cur.adbc_ingest(
                    name, _postgres_compatible(table), mode="create", db_schema_name=schema
                )
                counts[name] = table.num_rows
        conn.commit()
    return counts
