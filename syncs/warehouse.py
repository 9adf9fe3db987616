"""The thin layer between the engine and a DB-API connection.

Why: every statement the engine issues is written once, in DuckDB's dialect, and
transpiled by sqlglot to the warehouse's dialect here, so the same engine runs
on DuckDB today and PostgreSQL later. Bulk writes and streaming reads use the
fastest path the driver offers (Arrow for DuckDB) behind one interface.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import pyarrow as pa
import sqlglot

SOURCE_DIALECT = "duckdb"
# DuckDB memory cap while a plan diffs a whole audience (see Warehouse.plan_settings).
# At 10M members the plan's hash joins (state, consent) need ~1.4 GB: under 1200MB DuckDB
# spilled ~1 GB of them (+50% CPU); at 1500MB nothing spills and the process peaks at
# ~1.7 GB of RSS (benchmarks/sync_plan.py --sizes 10000000).
PLAN_MEMORY_LIMIT = "1500MB"
# The oldest DuckDB storage version that writes ZSTD string segments: a database file
# created with an older `storage_version` refuses `using compression zstd` (a Binder
# Error at CREATE TABLE), so its tables keep DuckDB's default compression.
ZSTD_STORAGE = (1, 2, 0)


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


def inline_params(sql: str, params: Sequence[Any]) -> str:
    """`?` placeholders (DuckDB dialect) replaced by SQL literals, for drivers that bind
    differently (ADBC PostgreSQL wants $1). Literals are written by sqlglot, so quoting
    is the dialect's own; placeholders are found by sqlglot's tokenizer, not a regex."""
    if not params:
        return sql
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.tokens import TokenType

    values = iter(params)
    out, last = [], 0
    for token in Dialect.get_or_raise(SOURCE_DIALECT).tokenize(sql):
        if token.token_type != TokenType.PLACEHOLDER or token.text != "?":
            continue
        value = next(values)
        if value is None:
            literal = "null"
        elif isinstance(value, bool):
            literal = "true" if value else "false"
        elif isinstance(value, (int, float)):
            literal = repr(value)
        else:
            literal = sqlglot.exp.Literal.string(str(value)).sql(dialect=SOURCE_DIALECT)
        out += [sql[last : token.start], literal]
        last = token.end + 1
    return "".join(out) + sql[last:]


def _postgres_numeric_to_decimal(data: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """ADBC hands PostgreSQL numeric over as text (an opaque extension type); make it
    decimal128 with the column's precision and scale (float64 when unconstrained), as
    psycopg would give Decimal."""
    columns, fields, changed = [], [], False
    for field, column in zip(data.schema, data.columns):
        meta = field.metadata or {}
        if meta.get(b"POSTGRESQL:type") == b"numeric":
            typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
            if isinstance(column, pa.ChunkedArray):
                storage = pa.chunked_array(
                    [getattr(c, "storage", c) for c in column.chunks], pa.string()
                )
            else:
                storage = getattr(column, "storage", column)
            target = (
                pa.decimal128(min(((typmod - 4) >> 16) & 0xFFFF, 38), (typmod - 4) & 0xFFFF)
                if typmod >= 4
                else pa.float64()
            )
            column = storage.cast(target)
            field = pa.field(field.name, target, field.nullable)
            changed = True
        columns.append(column)
        fields.append(field)
    if not changed:
        return data
    return type(data).from_arrays(columns, schema=pa.schema(fields))


_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def _size_bytes(text: str) -> float:
    """'16.0 MiB' / '1GB' -> bytes (DuckDB's spelling of memory sizes); 0 if unreadable."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if not match:
        return 0.0
    return float(match.group(1)) * _UNITS.get(match.group(2).upper(), 0)


class Warehouse:
    """A DB-API connection plus its sqlglot dialect."""

    def __init__(self, conn: Any, dialect: str | None = None) -> None:
        self.conn = conn
        self.dialect = dialect or detect_dialect(conn)
        self._reader: Any = None
        self._in_tx = False
        self._zstd: bool | None = None  # see string_compression()
        if self.dialect != "duckdb" and not getattr(conn, "autocommit", True):
            # The engine decides where transactions begin and end (one per batch), so the
            # driver must not open implicit ones (psycopg's default).
            conn.autocommit = True
        if self.dialect == "postgres":
            # The plan's CTEs make PostgreSQL overestimate joins by orders of magnitude, which
            # switches on JIT compilation: measured 1.8 s with it, 0.7 s without, for a plan
            # of 100k members. The engine's queries are short; compiling them never pays.
            conn.execute("set jit = off")

    # -- statements -------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.conn.cursor() if self.dialect != "duckdb" else self.conn
        # No parameters: none passed, so a `%` inside a literal (a destination key with
        # `%20`) is not read as a placeholder by psycopg's `%s` parser.
        cur.execute(transpile(sql, self.dialect), list(params) if params else None)
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

    def string_compression(self) -> str:
        """The clause that puts a DuckDB string column under ZSTD (` using compression zstd`),
        or "" where it cannot be written (an older storage version, another warehouse).

        Why: DuckDB's default for strings (DICT_FSST) analyses every column at commit to
        choose between a dictionary and FSST, and for columns of distinct values (record
        keys, md5 hashes, identifiers JSON) that analysis is most of a commit's CPU. ZSTD
        skips it: 877,511 sync_state rows committed in row groups took 0.95 s of CPU
        against 1.37 s, in a file of the same size (45.4 MB against 46.1 MB), and reads
        (the plan's scan and join of state) cost the same (syncs/README.md, Performance
        notes). Only for columns of mostly distinct values: a constant column is cheaper
        in DICT_FSST. Read from the current database's storage version (a statement that
        writes nothing, so it may run inside a transaction); cached per Warehouse.
        """
        if self.dialect != "duckdb":
            return ""
        if self._zstd is None:
            self.conn.complete()  # see stage()
            row = self.conn.execute(
                "select tags['storage_version'] from duckdb_databases() "
                "where database_name = current_database()"
            ).fetchall()
            found = re.match(r"v(\d+)\.(\d+)\.(\d+)", str(row[0][0] or "")) if row else None
            self._zstd = bool(found) and tuple(map(int, found.groups())) >= ZSTD_STORAGE
        return " using compression zstd" if self._zstd else ""

    @contextmanager
    def transaction(self, snapshot: bool = False) -> Iterator[None]:
        """All-or-nothing: state for a batch lands together with its results, or not at all.

        `snapshot`: every statement sees the same data (PostgreSQL's default, READ
        COMMITTED, gives each statement its own snapshot; DuckDB's transactions are
        snapshots already), for statements that must agree with each other."""
        if self.dialect == "duckdb":
            self.execute("begin transaction")
        else:
            self.execute("begin isolation level repeatable read" if snapshot else "begin")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        finally:
            self._in_tx = False
        self.execute("commit")

    @contextmanager
    def deferred_checkpoints(self, threshold: str = "1GB") -> Iterator[None]:
        """DuckDB: let the WAL grow to `threshold` during a run, then restore the setting.

        Why: the engine commits once per batch (durability is the WAL, fsynced on every
        commit either way); at the default 16 MB DuckDB checkpoints every few batches,
        and each checkpoint rewrites the state and results tables' open row groups, so a
        run's commit cost grew faster than its size. After the run the old threshold is
        back and one checkpoint moves the run's rows into the file: measured at the
        connection's close (~1.4 s at 1M records; see syncs/README.md, Performance notes).
        Other warehouses: nothing to do.
        """
        if self.dialect != "duckdb":
            yield
            return
        # DuckDB-only statements: straight to the driver, not through transpile().
        row = self.conn.execute("select current_setting('checkpoint_threshold')").fetchall()
        previous = str(row[0][0]) if row else None
        if previous and _size_bytes(previous) >= _size_bytes(threshold):
            yield  # already at least that large: leave the owner's setting alone
            return
        self.conn.execute(f"set checkpoint_threshold = '{threshold}'")
        try:
            yield
        finally:
            if previous:
                self.conn.execute(f"set checkpoint_threshold = '{previous}'")

    @contextmanager
    def sending_settings(self) -> Iterator[None]:
        """DuckDB: one thread per query while a run sends, restored afterwards.

        Why: while a run sends, its own threads (the chunk reader, the committer, the
        request workers) already keep the cores busy, and DuckDB splitting each chunk
        read and each commit across its threads on top of them cost CPU for no time
        gained: measured on a 2-core machine, a run of 87,760 records took 1.05 s of
        CPU with one DuckDB thread against 1.21 s with two (4 runs each, wall no
        slower). The plan and its materialization, before any request, keep every
        thread. Only lowered: an owner who set one thread keeps it. Other warehouses:
        nothing to do.
        """
        if self.dialect != "duckdb":
            yield
            return
        self.conn.complete()  # see stage()
        rows = self.conn.execute("select current_setting('threads')").fetchall()
        threads = int(rows[0][0]) if rows else 1
        if threads > 1:
            self.conn.execute("set threads = 1")
        try:
            yield
        finally:
            if threads > 1:
                self.conn.complete()
                self.conn.execute(f"set threads = {threads}")

    @contextmanager
    def plan_settings(self, memory_limit: str = PLAN_MEMORY_LIMIT) -> Iterator[None]:
        """DuckDB: the plan's full-audience queries under a memory cap and unordered.

        Why: the plan diffs every member against state in hash joins and aggregates
        whose results are counts, so row order is never observed
        (`preserve_insertion_order = false` lets DuckDB skip keeping it), and at 10M
        members they take DuckDB well over 2 GB of RSS when it may; under `memory_limit`
        it keeps to the cap (spilling what does not fit to its temp directory, at a CPU
        cost: see PLAN_MEMORY_LIMIT). Also used by a run's materialization of the plan
        (syncs.sending), the same query. Only lowered, never raised: an owner
        who set a smaller limit keeps it. Both settings are restored afterwards.
        Other warehouses: nothing to do.
        """
        if self.dialect != "duckdb":
            yield
            return
        self.conn.complete()  # a result left unread would block SET (see stage())
        rows = self.conn.execute(
            "select current_setting('memory_limit'), current_setting('preserve_insertion_order')"
        ).fetchall()
        limit, ordered = (str(rows[0][0]), bool(rows[0][1])) if rows else ("", True)
        lower = _size_bytes(limit) > _size_bytes(memory_limit)
        if lower:
            self.conn.execute(f"set memory_limit = '{memory_limit}'")
        if ordered:
            self.conn.execute("set preserve_insertion_order = false")
        try:
            yield
        finally:
            if ordered:
                self.conn.execute("set preserve_insertion_order = true")
            if lower:
                self.conn.execute(f"set memory_limit = '{limit}'")

    # -- bulk -------------------------------------------------------------
    def insert_rows(self, table: str, columns: list[str], rows: pa.Table) -> None:
        """Append an Arrow table's rows (column order = `columns`) to `table`."""
        if rows.num_rows == 0:
            return
        if self.dialect == "duckdb":
            name = "__ferry_rows"
            self.conn.complete()  # see stage()
            self.conn.register(name, rows)
            try:
                cols = ", ".join(columns)
                self.conn.execute(f"insert into {table} ({cols}) select {cols} from {name}")
            finally:
                self.conn.unregister(name)
            return
        marks = ", ".join(["?"] * len(columns))
        sql = transpile(
            f"insert into {table} ({', '.join(columns)}) values ({marks})", self.dialect
        )
        cur = self.conn.cursor()
        cur.executemany(sql, [tuple(r[c] for c in columns) for r in rows.to_pylist()])

    @contextmanager
    def stage(self, name: str, rows: pa.Table) -> Iterator[str]:
        """Make an Arrow table queryable by `name` for a few statements (one batch's working set).

        DuckDB scans the Arrow memory in place; other warehouses get a temporary table.
        """
        if self.dialect == "duckdb":
            self.conn.complete()  # a result left unread (fetchone) would block register()
            self.conn.register(name, rows)
            try:
                yield name
            finally:
                self.conn.unregister(name)
            return
        cols = ", ".join(
            f"{c} varchar"
            if pa.types.is_string(t)
            else f"{c} bigint"
            if pa.types.is_integer(t)
            else f"{c} boolean"
            if pa.types.is_boolean(t)
            else f"{c} timestamp"
            for c, t in zip(rows.column_names, rows.schema.types)
        )
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
            self.conn.complete()  # see stage()
            self.conn.register(name, pa.table({"k": pa.array(keys, pa.string())}))
            return f"(select k from {name})", []
        marks = ", ".join(["?"] * len(keys))
        return f"({marks})", list(keys)

    def release_key_filter(self) -> None:
        if self.dialect == "duckdb":
            self.conn.unregister("__ferry_keys")

    def fetch_arrow(self, sql: str, params: Sequence[Any] = (), local: bool = False) -> pa.Table:
        """A (bounded) query result as one Arrow table.

        `local`: the query reads this session's temporary tables, so on DuckDB it runs on
        the main connection (a cursor is a session of its own and cannot see them).
        """
        sql_source, sql = sql, transpile(sql, self.dialect)
        if self.dialect == "duckdb" and local:
            # The last statement's result (e.g. an INSERT's row count) is never read: finish it.
            self.conn.complete()
            return self.conn.sql(sql, params=list(params) or None).to_arrow_table()
        if self.dialect == "duckdb":
            # Its own handle: reads committed data, and is not blocked by the main
            # connection's last (unfetched) statement result.
            if self._reader is None:
                self._reader = self.conn.cursor()
            return self._reader.sql(sql, params=list(params) or None).to_arrow_table()
        if self._arrow_native():
            with self._adbc_cursor(sql_source, params) as cur:
                return _postgres_numeric_to_decimal(cur.fetch_arrow_table())
        cur = self.conn.cursor()
        cur.execute(sql, list(params))
        names = [d.name for d in cur.description]
        return pa.Table.from_pylist([dict(zip(names, r)) for r in cur.fetchall()])

    def _arrow_native(self) -> bool:
        """Arrow reads through ADBC: PostgreSQL over psycopg, outside an open transaction
        (a second connection cannot see what this one has not committed)."""
        return self.dialect == "postgres" and not self._in_tx and hasattr(self.conn, "info")

    @contextmanager
    def _adbc_cursor(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        """An ADBC cursor that has run `sql` (engine dialect, params inlined), on a
        connection of its own that is closed afterwards: nothing outlives the read
        (a lingering session would block DROP DATABASE / DROP TABLE elsewhere)."""
        import adbc_driver_postgresql.dbapi as adbc_pg
        import psycopg

        info = self.conn.info
        conninfo = psycopg.conninfo.make_conninfo(
            **info.get_parameters(), password=info.password or ""
        )
        # autocommit: a read must not hold locks (the engine drops its plan tables).
        with adbc_pg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(transpile(inline_params(sql, params), self.dialect))
            yield cur

    # -- streaming --------------------------------------------------------
    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_rows: int = 10_000
    ) -> Iterator[pa.RecordBatch]:
        """Rows of a query as Arrow record batches, never all in memory at once.

        DuckDB: a separate cursor (its own connection handle) so the engine can keep
        committing state on the main connection while the plan streams. PostgreSQL:
        ADBC (COPY binary straight into Arrow) on its own autocommit connection.
        """
        sql_source, sql = sql, transpile(sql, self.dialect)
        if self._arrow_native():
            with self._adbc_cursor(sql_source, params) as cur:
                for batch in cur.fetch_record_batch():
                    yield _postgres_numeric_to_decimal(batch)
            return
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
