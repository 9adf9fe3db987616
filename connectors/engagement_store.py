"""Landing engagement in the warehouse: append-only, idempotent on event id, with cursors.

Why one module for every vendor: webhook receivers and pulls have the same
needs (durable before acknowledging, at-least-once delivery deduplicated by the
vendor's event id, a cursor written in the same transaction as the rows it
covers), and dbt reads one set of ``raw`` tables whatever way events arrived.

Tables (schema ``raw``; every table has ``received_at`` and ``ingest_source``
``webhook`` | ``pull``; the primary key is the vendor's event identity):

- ``raw.sendgrid_events``: one row per event-webhook event, key ``sg_event_id``;
- ``raw.sendgrid_suppressions``: key ``(suppression_type, email, created)``;
- ``raw.twilio_message_status``: key ``(message_sid, message_status)`` (status
  callbacks and pulled messages; the furthest status wins downstream);
- ``raw.twilio_opt_outs``: STOP/START replies and 21610 refusals, key ``event_id``;
- ``raw._engagement_cursors``: ``(stream, cursor_value, updated_at)``.

Writes use ``insert ... on conflict do nothing`` against the primary key (DuckDB
and PostgreSQL both), inside one transaction with the cursor update. A
connection is opened per write and closed at once, so a receiver never holds
the DuckDB file between requests (dbt in another process can open it).

Also here: :class:`WsgiServer`, a threaded loopback server for the receivers'
WSGI apps (the same apps mount under any WSGI server in production). The
production receiver app that mounts every vendor's receiver is
:mod:`connectors.receivers` (it imports the vendors' engagement modules, which
import this one: the dependency goes one way).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Self
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import duckdb
import pyarrow as pa

_COMMON = [("received_at", "timestamp"), ("ingest_source", "varchar")]

TABLES: dict[str, tuple[list[tuple[str, str]], tuple[str, ...]]] = {
    "sendgrid_events": (
        [
            ("sg_event_id", "varchar not null"),
            ("sg_message_id", "varchar"),
            ("event", "varchar not null"),
            ("email", "varchar"),
            ("event_timestamp", "bigint"),
            ("bounce_type", "varchar"),
            ("reason", "varchar"),
            ("url", "varchar"),
            ("ferry_key", "varchar"),
            ("ferry_idempotency_key", "varchar"),
            ("payload_json", "varchar"),
            *_COMMON,
        ],
        ("sg_event_id",),
    ),
    "sendgrid_suppressions": (
        [
            ("suppression_type", "varchar not null"),
            ("email", "varchar not null"),
            ("created", "bigint not null"),
            ("reason", "varchar"),
            ("status", "varchar"),
            *_COMMON,
        ],
        ("suppression_type", "email", "created"),
    ),
    "twilio_message_status": (
        [
            ("message_sid", "varchar not null"),
            ("message_status", "varchar not null"),
            ("to_number", "varchar"),
            ("from_number", "varchar"),
            ("error_code", "varchar"),
            ("direction", "varchar"),
            ("account_sid", "varchar"),
            ("event_at", "timestamp"),
            ("ferry_key", "varchar"),
            ("ferry_idempotency_key", "varchar"),
            ("attributes_json", "varchar"),
            *_COMMON,
        ],
        ("message_sid", "message_status"),
    ),
    "twilio_opt_outs": (
        [
            ("event_id", "varchar not null"),
            ("phone", "varchar not null"),
            ("sender", "varchar"),
            ("keyword", "varchar"),
            ("opted_out", "boolean not null"),
            ("event_at", "timestamp"),
            *_COMMON,
        ],
        ("event_id",),
    ),
    "_engagement_cursors": (
        [("stream", "varchar not null"), ("cursor_value", "varchar"), ("updated_at", "timestamp")],
        ("stream",),
    ),
}


_ARROW_TYPES = {
    "varchar": pa.string(),
    "bigint": pa.int64(),
    "timestamp": pa.timestamp("us"),
    "boolean": pa.bool_(),
}


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def from_unix(seconds: float | str | None) -> datetime | None:
    """Unix seconds -> naive UTC timestamp (the warehouse convention)."""
    if seconds in (None, ""):
        return None
    return datetime.fromtimestamp(float(seconds), UTC).replace(tzinfo=None)


class _Borrowed:
    """The store's shared connection, handed out for one operation (``close`` releases, not closes)."""

    def __init__(self, store: EngagementStore, con: Any) -> None:
        self._store, self._con = store, con

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        self._store._last_used = time.monotonic()
        if self._store.linger <= 0:
            self._store.close()


class EngagementStore:
    """Append-only landing of engagement rows into ``raw`` of the warehouse.

    DuckDB by default (``path``, else ``FERRY_DUCKDB_PATH``); PostgreSQL when
    given a ``dsn`` (``postgresql://...``), with the same tables and SQL (the
    DDL, ``on conflict do nothing`` and the cursor table are portable; only
    the bulk path differs: Arrow for DuckDB, ``executemany`` for psycopg).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        schema: str = "raw",
        linger: float = 1.0,
        dsn: str | None = None,
    ) -> None:
        self.dsn = dsn
        self.dialect = "postgres" if dsn else "duckdb"
        self.path = str(path or os.environ.get("FERRY_DUCKDB_PATH") or Path(".ferry/ferry.duckdb"))
        self.schema = schema
        self.linger = linger
        self._lock = threading.RLock()  # one writer at a time within this process
        self._ready = False
        self._con: Any = None
        self._last_used = 0.0
        self._closer: threading.Thread | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> EngagementStore:
        """The warehouse dbt targets: PostgreSQL when ``FERRY_DBT_TARGET=postgres`` (``FERRY_PG_*``), else DuckDB."""
        env = dict(os.environ if environ is None else environ)
        if env.get("FERRY_DBT_TARGET") == "postgres":
            from urllib.parse import quote

            dsn = "postgresql://{u}:{p}@{h}:{port}/{db}".format(
                u=quote(env.get("FERRY_PG_USER", "ferry")),
                p=quote(env.get("FERRY_PG_PASSWORD", "")),
                h=env.get("FERRY_PG_HOST", "127.0.0.1"),
                port=env.get("FERRY_PG_PORT", "5432"),
                db=env.get("FERRY_PG_DATABASE", "ferry"),
            )
            return cls(dsn=dsn)
        return cls(env.get("FERRY_DUCKDB_PATH"))

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def _open(self) -> Any:
        if self.dsn:
            import psycopg

            # autocommit: transactions are opened and closed explicitly below, as on DuckDB
            return psycopg.connect(self.dsn, autocommit=True)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(50):  # another process (dbt) may hold the file for a moment
            try:
                return duckdb.connect(self.path)
            except duckdb.IOException:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def _connect(self) -> _Borrowed:
        """The connection, kept open while writes keep coming and closed after ``linger`` idle seconds.

        Why linger: opening a DuckDB file costs ~0.1 s (a webhook burst would
        crawl), but holding it open blocks dbt in another process; closing once
        idle gives both. Callers hold ``self._lock``.
        """
        if self._con is None:
            self._con = self._open()
            if self.linger > 0 and (self._closer is None or not self._closer.is_alive()):
                self._closer = threading.Thread(target=self._close_when_idle, daemon=True)
                self._closer.start()
        self._last_used = time.monotonic()
        return _Borrowed(self, self._con)

    def _close_when_idle(self) -> None:
        while True:
            time.sleep(min(0.2, self.linger))
            with self._lock:
                if self._con is None:
                    return
                if time.monotonic() - self._last_used >= self.linger:
                    self._con.close()
                    self._con = None
                    return

    def close(self) -> None:
        """Release the warehouse (the DuckDB file, or the PostgreSQL session) now."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def ensure(self) -> None:
        """Create the schema and tables if absent (idempotent)."""
        if self._ready:
            return
        with self._lock:
            con = self._connect()
            try:
                con.execute(f"create schema if not exists {self.schema}")
                for name, (columns, key) in TABLES.items():
                    cols = ", ".join(f"{c} {t}" for c, t in columns)
                    con.execute(
                        f"create table if not exists {self.schema}.{name} ({cols}, primary key ({', '.join(key)}))"
                    )
            finally:
                con.close()
            self._ready = True

    def land(
        self,
        table: str,
        rows: Iterable[dict[str, Any]],
        *,
        ingest_source: str,
        cursor: tuple[str, str] | None = None,
        cursors: dict[str, str] | None = None,
    ) -> int:
        """Insert ``rows`` that are not there yet (by primary key); returns how many were new.

        ``cursor=(stream, value)`` (or several as ``cursors={stream: value}``) is
        written in the same transaction, so a pull that dies after landing rows
        resumes from exactly what was stored.
        """
        self.ensure()
        columns = [c for c, _ in TABLES[table][0]]
        now = utc_now()
        data: dict[str, list[Any]] = {c: [] for c in columns}
        for row in rows:
            row = {**row, "received_at": now, "ingest_source": ingest_source}
            unknown = set(row) - set(columns)
            if unknown:
                raise ValueError(f"raw.{table}: unknown columns {sorted(unknown)}")
            for c in columns:
                data[c].append(row.get(c))
        # Arrow in, one set-based insert: DuckDB's executemany is row-at-a-time and slow.
        incoming = pa.table(
            {
                c: pa.array(v, type=_ARROW_TYPES[t.split()[0]])
                for (c, t), v in zip(TABLES[table][0], data.values())
            }
        )
        cols = ", ".join(columns)
        with self._lock:
            con = self._connect()
            try:
                con.execute("begin")
                before = con.execute(f"select count(*) from {self.schema}.{table}").fetchall()[0][0]
                if incoming.num_rows and self.dialect == "postgres":
                    values = list(zip(*data.values()))
                    with con.cursor() as cur:
                        cur.executemany(
                            f"insert into {self.schema}.{table} ({cols}) values "
                            f"({', '.join('%s' for _ in columns)}) on conflict do nothing",
                            values,
                        )
                elif incoming.num_rows:
                    con.register("ferry_incoming", incoming)
                    # distinct on the key first: a batch may repeat an event (at-least-once senders)
                    key = ", ".join(TABLES[table][1])
                    con.execute(
                        f"insert into {self.schema}.{table} ({cols}) select {cols} from ("
                        f"select *, row_number() over (partition by {key}) as ferry_rn from ferry_incoming"
                        f") where ferry_rn = 1 on conflict do nothing"
                    )
                    con.unregister("ferry_incoming")
                after = con.execute(f"select count(*) from {self.schema}.{table}").fetchall()[0][0]
                for stream, value in {
                    **(cursors or {}),
                    **dict([cursor] if cursor else []),
                }.items():
                    con.execute(
                        self._sql(
                            f"delete from {self.schema}._engagement_cursors where stream = ?"
                        ),
                        [stream],
                    )
                    con.execute(
                        self._sql(
                            f"insert into {self.schema}._engagement_cursors values (?, ?, ?)"
                        ),
                        [stream, value, now],
                    )
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
            finally:
                con.close()
        return int(after - before)

    def cursor(self, stream: str) -> str | None:
        self.ensure()
        with self._lock:
            con = self._connect()
            try:
                found = con.execute(
                    self._sql(
                        f"select cursor_value from {self.schema}._engagement_cursors where stream = ?"
                    ),
                    [stream],
                ).fetchall()
                row = found[0] if found else None
            finally:
                con.close()
        return row[0] if row else None

    def cursors(self, prefix: str) -> dict[str, str]:
        """Every cursor whose stream starts with ``prefix`` (one read for a multi-stream pull)."""
        rows = self.query(
            f"select stream, cursor_value from {self.schema}._engagement_cursors where stream like ?",
            [prefix + "%"],
        )
        return {r[0]: r[1] for r in rows}

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read helper for tests and CLIs."""
        self.ensure()
        with self._lock:
            con = self._connect()
            try:
                return con.execute(self._sql(sql), params or []).fetchall()
            finally:
                con.close()

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from {self.schema}.{table}")[0][0])


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# --------------------------------------------------------------------------- serving receivers


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # access logs would carry query strings
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@dataclass
class WsgiServer:
    """A receiver's WSGI app on 127.0.0.1:<free port> in a background thread."""

    app: Callable[..., Any]
    host: str = "127.0.0.1"
    port: int = 0

    def start(self) -> Self:
        self._server = make_server(
            self.host,
            self.port,
            self.app,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_body(environ: dict[str, Any], limit: int = 10 * 1024 * 1024) -> bytes | None:
    """The raw request body (None if larger than ``limit``: answer 413)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return None
    return environ["wsgi.input"].read(length) if length else b""


def respond(start_response: Callable[..., Any], status: int, message: str = "") -> list[bytes]:
    reasons = {
        200: "OK",
        204: "No Content",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Payload Too Large",
        500: "Internal Server Error",
    }
    body = json.dumps({"status": status, "message": message}).encode()
    start_response(
        f"{status} {reasons.get(status, '')}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
