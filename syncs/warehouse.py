"""The thin layer between the engine and a DB-API connection.

Why: every statement the engine issues is written once, in DuckDB's dialect, and
transpiled by sqlglot to the warehouse's dialect here, so the same engine runs
on DuckDB today and PostgreSQL later. Bulk writes and streaming reads use the
fastest path the driver offers (Arrow for DuckDB) behind one interface.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator, Sequence

import pyarrow as pa
import sqlglot

SOURCE_DIALECT = "duckdb"


@lru_cache(maxsize=512)
def transpile(sql: str, dialect: str) -> str:
    """One statement from the engine's dialect (DuckDB) to `dialect`."""
    if dialect == SOURCE_DIALECT:
        return sql
    return sqlglot.transpile(sql, read=SOURCE_DIALECT, write=dialect)[0]


def detect_dialect(conn: Any) -> str:
    module = type(conn).__module__.split(".")[0].lstrip("_")
    if module.startswith("duckdb"):
        return "duckdb"
    if module.startswith("psycopg"):
        return "postgres"
    raise ValueError(f"unsupported connection type {type(conn)!r}; pass dialect= explicitly")


class Warehouse:
    """A DB-API connection plus its sqlglot dialect."""

    def __init__(self, conn: Any, dialect: str | None = None) -> None:
        self.conn = conn
        self.dialect = dialect or detect_dialect(conn)
        self._reader: Any = None
        if self.dialect != "duckdb" and not getattr(conn, "autocommit", True):
            # The engine decides where transactions begin and end (one per batch), so the
            # driver must not open implicit ones (psycopg's default).
            conn.autocommit = True

    # -- statements -------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.conn.cursor() if self.dialect != "duckdb" else self.conn
        cur.execute(transpile(sql, self.dialect), list(params))
        return cur

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def table_exists(self, schema: str, table: str) -> bool:
        row = self.fetchone(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            (schema, table),
        )
        return bool(row and row[0])

    def columns(self, schema: str, table: str) -> list[str]:
        rows = self.fetchall(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            (schema, table),
        )
        return [r[0] for r in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing: state for a batch lands together with its results, or not at all."""
        self.execute("begin transaction" if self.dialect == "duckdb" else "begin")
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        self.execute("commit")

    # -- bulk -------------------------------------------------------------
    def insert_rows(self, table: str, columns: list[str], rows: pa.Table) -> None:
        """Append an Arrow table's rows (column order = `columns`) to `table`."""
        if rows.num_rows == 0:
            return
        if self.dialect == "duckdb":
            name = "__ferry_rows"
            self.conn.register(name, rows)
            try:
                cols = ", ".join(columns)
                self.conn.execute(f"insert into {table} ({cols}) select {cols} from {name}")
            finally:
                self.conn.unregister(name)
            return
        marks = ", ".join(["?"] * len(columns))
        sql = transpile(f"insert into {table} ({', '.join(columns)}) values ({marks})", self.dialect)
        cur = self.conn.cursor()
        cur.executemany(sql, [tuple(r[c] for c in columns) for r in rows.to_pylist()])

    @contextmanager
    def stage(self, name: str, rows: pa.Table) -> Iterator[str]:
        """Make an Arrow table queryable by `name` for a few statements (one batch's working set).

        DuckDB scans the Arrow memory in place; other warehouses get a temporary table.
        """
        if self.dialect == "duckdb":
            self.conn.register(name, rows)
            try:
                yield name
            finally:
                self.conn.unregister(name)
            return
        cols = ", ".join(f"{c} varchar" if pa.types.is_string(t) else f"{c} bigint" if pa.types.is_integer(t) else f"{c} boolean" if pa.types.is_boolean(t) else f"{c} timestamp" for c, t in zip(rows.column_names, rows.schema.types))
        self.execute(f"create temporary table {name} ({cols})")
        try:
            self.insert_rows(name, rows.column_names, rows)
            yield name
        finally:
            self.execute(f"drop table {name}")

    def key_filter_table(self, keys: list[str]) -> tuple[str, list[Any]]:
        """A `(select key from ...)` subquery over `keys`, for deletes by key."""
        if self.dialect == "duckdb":
            name = "__ferry_keys"
            self.conn.register(name, pa.table({"k": pa.array(keys, pa.string())}))
            return f"(select k from {name})", []
        marks = ", ".join(["?"] * len(keys))
        return f"({marks})", list(keys)

    def release_key_filter(self) -> None:
        if self.dialect == "duckdb":
            self.conn.unregister("__ferry_keys")

    def fetch_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """A (bounded) query result as one Arrow table."""
        sql = transpile(sql, self.dialect)
        if self.dialect == "duckdb":
            # Its own handle: reads committed data, and is not blocked by the main
            # connection's last (unfetched) statement result.
            if self._reader is None:
                self._reader = self.conn.cursor()
            return self._reader.sql(sql, params=list(params) or None).to_arrow_table()
        cur = self.conn.cursor()
        cur.execute(sql, list(params))
        names = [d.name for d in cur.description]
        return pa.Table.from_pylist([dict(zip(names, r)) for r in cur.fetchall()])

    # -- streaming --------------------------------------------------------
    def stream(self, sql: str, params: Sequence[Any] = (), batch_rows: int = 10_000) -> Iterator[pa.RecordBatch]:
        """Rows of a query as Arrow record batches, never all in memory at once.

        DuckDB: a separate cursor (its own connection handle) so the engine can keep
        committing state on the main connection while the plan streams.
        """
        sql = transpile(sql, self.dialect)
        if self.dialect == "duckdb":
            cur = self.conn.cursor()
            try:
                # The relation API streams without the extra copy a DB-API result makes.
                reader = cur.sql(sql, params=list(params) or None).to_arrow_reader(batch_rows)
                for batch in reader:
                    yield batch
            finally:
                cur.close()
            return
        # A server-side cursor held across the engine's per-batch commits: bounded memory.
        cur = self.conn.cursor(name=f"ferry_stream_{uuid.uuid4().hex}", withhold=True)
        cur.execute(sql, list(params))
        names = [d.name for d in cur.description]
        while True:
            rows = cur.fetchmany(batch_rows)
            if not rows:
                break
            yield pa.RecordBatch.from_pylist([dict(zip(names, r)) for r in rows])
        cur.close()
