"""File export destination: CSV or Parquet, written atomically.

Layout under ``path`` (one destination instance is built per sync run)::

    <name>_latest.<ext>            what the destination "holds": one row per key
    runs/<name>_<run_id>.<ext>     this run's changes: key, operation, fields

Every write goes to a temporary file in the same directory, is flushed and
fsynced, then ``os.replace``d over the target, so a reader (or a crash) never
sees a partial file: a failure mid-write leaves the previous file intact and the
temporary file is removed. ``latest`` is rewritten per batch (the previous latest
plus this batch's changes): the file always matches what the engine has
committed, batch by batch, and a crashed run re-plans from it.

Modes: ``upsert``/``insert`` add or update the key's row, ``mirror`` also removes
keys (REMOVE), ``delete`` erases the key's row; erasure rows in the run file hold
the key only, no personal data. CSV values are text (``None`` -> empty cell);
Parquet keeps types (a column with mixed types is written as text).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import Capabilities, Operation, Outcome, Record, RecordResult

KEY = "key"
OPERATION = "operation"


class FileOptions(BaseModel):
    """Options of a ``type: file`` destination in dbt_project/destinations.yml."""

    model_config = ConfigDict(extra="forbid")

    path: str = ".ferry/exports"
    format: Literal["csv", "parquet"] = "csv"
    name: str = Field("export", pattern=r"^[A-Za-z0-9_.-]+$")  # file stem
    # The sync writing through this destination: one destination shared by several
    # syncs must not mix their members in one latest file, so the stem becomes
    # "<name>__<sync>". The engine (or the YAML) sets it.
    sync: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    identifiers: tuple[str, ...] = ("profile_id", "customer_id", "email", "phone", "external_id", "anonymous_id")
    max_batch_records: int = Field(50_000, ge=1)


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the target's directory, fsync, then ``os.replace``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


class FileExport:
    """A :class:`connectors.base.Destination` writing CSV or Parquet files."""

    options_model = FileOptions  # checked when syncs load (syncs.registry.option_errors)

    name = "file"
    takes_sync_name = True  # the sync registry passes options["sync"]: one latest file per sync

    def __init__(self, options: FileOptions) -> None:
        self.options = options
        self.dir = Path(options.path)
        self.ext = "csv" if options.format == "csv" else "parquet"
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = options.run_id or f"{stamp}_{secrets.token_hex(3)}"
        stem = f"{options.name}__{options.sync}" if options.sync else options.name
        self.latest_path = self.dir / f"{stem}_latest.{self.ext}"
        self.run_path = self.dir / "runs" / f"{stem}_{self.run_id}.{self.ext}"
        self._run_rows: list[dict[str, Any]] = []
        self.capabilities = Capabilities(
            modes=frozenset({"upsert", "mirror", "insert", "delete"}),
            identifiers=frozenset(options.identifiers),  # a file takes any key column named here
            max_batch_records=options.max_batch_records,
            max_batch_bytes=None,
            max_requests_per_second=None,
            max_concurrency=1,  # one writer: batches apply to latest in order
        )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> FileExport:
        try:
            return cls(FileOptions.model_validate(options))
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"destination type file, options: {details}") from None

    @property
    def target_label(self) -> str:
        return str(self.dir.resolve())

    @property
    def destination_identity(self) -> str:
        """``file:<resolved latest file>``: a file export has no sandbox and no credentials."""
        return f"file:{self.latest_path.resolve()}"

    # ----- reading and writing tables

    def read(self, path: Path) -> list[dict[str, Any]]:
        """Rows of one of our files (CSV cells come back as text)."""
        if not path.exists():
            return []
        if self.ext == "csv":
            with open(path, newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))
        return pq.read_table(path).to_pylist()

    def _write_table(self, path: Path, rows: list[dict[str, Any]], lead: list[str]) -> None:
        columns = list(lead)
        for row in rows:
            columns.extend(c for c in row if c not in columns)

        def write(tmp: Path) -> None:
            if self.ext == "csv":
                with open(tmp, "w", newline="", encoding="utf-8") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(columns)
                    for row in rows:
                        writer.writerow([_text(row.get(c)) for c in columns])
            else:
                pq.write_table(self._arrow(rows, columns), tmp)

        atomic_write(path, write)

    @staticmethod
    def _arrow(rows: list[dict[str, Any]], columns: list[str]) -> pa.Table:
        arrays = {}
        for c in columns:
            values = [row.get(c) for row in rows]
            try:
                arrays[c] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arrays[c] = pa.array([None if v is None else _text(v) for v in values], pa.string())
            if pa.types.is_null(arrays[c].type):
                arrays[c] = arrays[c].cast(pa.string())
        return pa.table(arrays)

    # ----- the Destination protocol

    def write(self, records: list[Record]) -> list[RecordResult]:
        """Apply one batch to ``latest`` and append it to this run's file, both atomically."""
        unsupported = [r for r in records if r.operation is Operation.SEND]
        todo = [r for r in records if r.operation is not Operation.SEND]
        results = [RecordResult(r.key, Outcome.REJECTED, "file export does not support send") for r in unsupported]
        if not todo:
            return results
        latest = {str(row[KEY]): row for row in self.read(self.latest_path)}
        changes = []
        for r in todo:
            fields = {k: v for k, v in r.payload.items() if not k.startswith("_") and k not in (KEY, OPERATION)}
            if r.operation is Operation.UPSERT:
                latest[r.key] = {KEY: r.key, **fields}
                changes.append({KEY: r.key, OPERATION: r.operation.value, **fields})
            else:  # REMOVE (mirror) or DELETE (erasure): no personal data kept in the run file
                latest.pop(r.key, None)
                changes.append({KEY: r.key, OPERATION: r.operation.value})
        try:
            self._write_table(self.run_path, self._run_rows + changes, [KEY, OPERATION])
            self._write_table(self.latest_path, list(latest.values()), [KEY])
        except OSError as exc:
            # The run file may hold this batch while latest does not: the records stay
            # pending and the next write of the run rewrites the run file from memory.
            return results + [RecordResult(r.key, Outcome.RETRYABLE, f"write failed: {exc.strerror or exc}")
                              for r in todo]
        self._run_rows.extend(changes)
        path = str(self.latest_path)
        return results + [RecordResult(r.key, Outcome.ACCEPTED, destination_id=path) for r in todo]

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Files are rewritten whole from the latest state, so re-applying a record is
        idempotent and nothing needs looking up: in-doubt records are RETRYABLE."""
        return [RecordResult(r.key, Outcome.RETRYABLE) for r in records]

