"""File export destination: CSV or Parquet, written atomically.

Layout under ``path`` (one destination instance is built per sync run)::

    <name>_latest.<ext>            what the destination "holds": one row per key
    runs/<name>_<run_id>.<ext>     one run's changes: key, operation, fields
    .pending/<name>.<ext>/<seq>_<run_id>.arrow   accepted batches not yet folded in

Why a journal: rewriting ``latest`` per batch made a run quadratic (a 300k-member
export took 23 s, 1M would take minutes). Instead each accepted batch is written
as one Arrow part file (temp file, fsync, ``os.replace``) before ``write`` answers
ACCEPTED, so what the engine commits is always on disk; ``finish()``, which the
engine calls once when the run ends, folds every pending part into ``latest`` and
the run files in one pass and then removes the parts. A reader of ``latest`` sees
whole runs, never a partial file or half a run. A run killed before ``finish()``
leaves its parts behind: the sync's next run folds them first (folding is
idempotent, so a kill during the fold is safe too).

Modes: ``upsert``/``insert`` add or update the key's row, ``mirror`` also removes
keys (REMOVE), ``delete`` erases the key's row; erasure rows in the run file hold
the key only, no personal data. CSV values are text (``None`` -> empty cell);
Parquet keeps types (a column with mixed types is written as text). Rows of
``latest`` keep their order; changed rows move to the end in the order applied.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import itertools
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.feather as feather
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import Capabilities, Operation, Outcome, Record, RecordResult

KEY = "key"
OPERATION = "operation"
_ROW = "__ferry_row"  # journal order while folding; never written
PART_SUFFIX = ".arrow"
log = logging.getLogger(__name__)


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
    # Batches written at once: each is its own part file, and keys are unique within a
    # run, so their order does not matter until the fold.
    max_concurrency: int = Field(2, ge=1, le=16)


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
    _fsync_dir(target.parent)  # the rename itself survives a crash


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _column_order(tables: list[pa.Table], lead: list[str]) -> list[str]:
    columns = list(lead)
    for table in tables:
        columns.extend(c for c in table.column_names if c not in columns)
    return columns


def _common_type(fields: list[pa.Field]) -> pa.DataType | None:
    """The type every batch's values of one column fit, as pa.array over all of them
    would infer it (ints and floats -> double, list<null> -> list<string>); None
    when there is none (text and numbers mixed)."""
    try:
        return pa.unify_schemas([pa.schema([f.with_name("c")]) for f in fields],
                                promote_options="permissive").field("c").type  # fmt: skip
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _to_type(column: pa.ChunkedArray, target: pa.DataType | None) -> pa.ChunkedArray | pa.Array:
    """A column as `target`; as text, value by value (`_text`), when `target` is None."""
    if target is None:
        return pa.array([None if v is None else _text(v) for v in column.to_pylist()], pa.string())
    if column.type == target:
        return column
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # e.g. a struct missing a field the others have: Python values fill it with null
        return pa.array(column.to_pylist(), target)


def _align(tables: list[pa.Table], columns: list[str]) -> list[pa.Table]:
    """The tables with the same columns and types, ready to concatenate.

    A column missing from a table is null there; the batches' types of a column are
    unified as one batch of all their values would be, and a column whose values
    have no common type is written as text, as a column with mixed values in one
    batch is.
    """
    types: dict[str, pa.DataType | None] = {}
    for name in columns:
        fields = [t.schema.field(name) for t in tables if name in t.column_names]
        types[name] = _common_type(fields)
    aligned = []
    for table in tables:
        arrays = []
        for name in columns:
            if name not in table.column_names:
                arrays.append(pa.nulls(table.num_rows, types[name] or pa.string()))
            else:
                arrays.append(_to_type(table.column(name), types[name]))
        aligned.append(pa.Table.from_arrays(arrays, names=columns))
    return aligned


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
        self.stem = f"{options.name}__{options.sync}" if options.sync else options.name
        self.latest_path = self.dir / f"{self.stem}_latest.{self.ext}"
        self.run_path = self.run_file(self.run_id)
        # the journal of this sync's file (the extension too: a sync switched from CSV to
        # Parquet does not fold one's parts into the other), and its lock
        self.pending_dir = self.dir / ".pending" / f"{self.stem}.{self.ext}"
        self.lock_path = self.pending_dir.with_name(f"{self.pending_dir.name}.lock")
        self._seq: itertools.count[int] | None = None
        self._seq_lock = threading.Lock()
        self._own_folded: list[pa.Table] = []  # this run's parts already folded (finish() again)
        self.capabilities = Capabilities(
            modes=frozenset({"upsert", "mirror", "insert", "delete"}),
            identifiers=frozenset(options.identifiers),  # a file takes any key column named here
            max_batch_records=options.max_batch_records,
            max_batch_bytes=None,
            max_requests_per_second=None,
            max_concurrency=options.max_concurrency,
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

    def run_file(self, run_id: str) -> Path:
        return self.dir / "runs" / f"{self.stem}_{run_id}.{self.ext}"

    # ----- reading and writing tables

    def read(self, path: Path) -> list[dict[str, Any]]:
        """Rows of one of our files (CSV cells come back as text)."""
        if not path.exists():
            return []
        if self.ext == "csv":
            with open(path, newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh))
        return pq.read_table(path).to_pylist()

    def _read_table(self, path: Path) -> pa.Table:
        """One of our files as Arrow; CSV columns are text (an empty cell is "")."""
        if not path.exists():
            return pa.table({KEY: pa.array([], pa.string())})
        if self.ext == "parquet":
            return pq.read_table(path)
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
        return pa_csv.read_csv(
            path,
            # a quoted value may hold line breaks (an address, a note)
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.string() for c in header}, strings_can_be_null=False
            ),
        )

    def _write_table(self, path: Path, table: pa.Table) -> None:
        def write(tmp: Path) -> None:
            if self.ext == "parquet":
                pq.write_table(table, tmp)
                return
            # Python's csv module, as before the journal: the same quoting and line ends
            # for readers of earlier exports (one pass per run, not per batch).
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(table.column_names)
                for batch in table.to_batches(max_chunksize=65_536):
                    columns = [[_text(v) for v in column.to_pylist()] for column in batch.columns]
                    writer.writerows(zip(*columns, strict=True))

        atomic_write(path, write)

    def _batch_table(self, rows: list[dict[str, Any]], lead: list[str]) -> pa.Table:
        """One batch's changes as Arrow: text for CSV, typed values for Parquet."""
        columns = list(lead)
        for row in rows:
            columns.extend(c for c in row if c not in columns)
        arrays = {}
        for c in columns:
            values = [row.get(c) for row in rows]
            if self.ext == "csv":
                arrays[c] = pa.array([None if v is None else _text(v) for v in values], pa.string())
                continue
            try:
                arrays[c] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arrays[c] = pa.array([None if v is None else _text(v) for v in values], pa.string())
        return pa.table(arrays)

    # ----- the journal of accepted batches

    def _next_seq(self) -> int:
        """Journal numbers keep rising across runs, so a fold applies parts in order."""
        with self._seq_lock:
            if self._seq is None:
                last = max((int(p.name.split("_", 1)[0]) for p in self._parts()), default=0)
                self._seq = itertools.count(last + 1)
            return next(self._seq)

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        """flock on the journal: batches write parts under a shared lock, a fold holds it
        exclusively, so a fold never interleaves with another process's writes (one run
        per sync holds the lease, and this holds even if a run outlived its lease)."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as fh:
            fcntl.flock(fh, mode)
            yield

    def _parts(self) -> list[Path]:
        if not self.pending_dir.exists():
            return []
        return sorted(p for p in self.pending_dir.iterdir() if p.name.endswith(PART_SUFFIX))

    # ----- the Destination protocol

    def write(self, records: list[Record]) -> list[RecordResult]:
        """Write one batch as a part file of the journal; ``finish()`` folds it into ``latest``."""
        unsupported = [r for r in records if r.operation is Operation.SEND]
        todo = [r for r in records if r.operation is not Operation.SEND]
        results = [RecordResult(r.key, Outcome.REJECTED, "file export does not support send") for r in unsupported]
        if not todo:
            return results
        changes = []
        for r in todo:
            if r.operation is Operation.UPSERT:
                fields = {k: v for k, v in r.payload.items() if not k.startswith("_") and k not in (KEY, OPERATION)}
                changes.append({KEY: r.key, OPERATION: r.operation.value, **fields})
            else:  # REMOVE (mirror) or DELETE (erasure): no personal data kept in the run file
                changes.append({KEY: r.key, OPERATION: r.operation.value})
        table = self._batch_table(changes, [KEY, OPERATION])
        part = self.pending_dir / f"{self._next_seq():012d}_{self.run_id}{PART_SUFFIX}"
        try:
            with self._locked(fcntl.LOCK_SH):
                atomic_write(part, lambda tmp: feather.write_feather(table, tmp))
        except OSError as exc:
            # Nothing of this batch is on disk: the records stay pending and are written again.
            return results + [RecordResult(r.key, Outcome.RETRYABLE, f"write failed: {exc.strerror or exc}")
                              for r in todo]
        path = str(self.latest_path)
        return results + [RecordResult(r.key, Outcome.ACCEPTED, destination_id=path) for r in todo]

    def finish(self) -> None:
        """Fold every pending part (this run's and any a killed run left) into the run
        files and ``latest``, then drop the parts. Raises OSError when the disk refuses:
        the parts stay, and the next run folds them."""
        with self._locked(fcntl.LOCK_EX):
            for leftover in self.pending_dir.parent.glob(f"{self.pending_dir.name}.folded-*"):
                shutil.rmtree(leftover)  # a fold killed after its rename: already published
            parts = self._parts()
            if not parts:
                return
            tables = [feather.read_table(p) for p in parts]
            by_run: dict[str, list[pa.Table]] = {}
            own: list[pa.Table] | None = None
            for path, table in zip(parts, tables, strict=True):
                by_run.setdefault(path.name[: -len(PART_SUFFIX)].split("_", 1)[1], []).append(table)
            if earlier := sorted(r for r in by_run if r != self.run_id):
                rows = sum(t.num_rows for r in earlier for t in by_run[r])
                log.warning(
                    "file export %s: publishing %d rows that run(s) %s accepted but did not publish "
                    "(killed, or stopped before the end); the latest file lagged them until now",
                    self.stem, rows, ", ".join(earlier),
                )  # fmt: skip
            for run_id, run_tables in by_run.items():
                # A run file is rewritten whole from its run's parts, never appended to:
                # a fold killed before the rename below writes it again the same. Only
                # this instance's own run may fold more than once (finish() called
                # between writes): what it folded before comes first.
                if run_id == self.run_id:
                    run_tables = own = self._own_folded + run_tables
                columns = _column_order(run_tables, [KEY, OPERATION])
                self._write_table(self.run_file(run_id), pa.concat_tables(_align(run_tables, columns)))
            self._write_table(self.latest_path, self._folded(tables))
            # One rename marks every part folded at once (removing them one by one, a kill
            # half-way would leave a run's later parts to rewrite its run file without
            # the earlier ones); then the folded parts are deleted.
            folded = self.pending_dir.with_name(f"{self.pending_dir.name}.folded-{secrets.token_hex(4)}")
            os.replace(self.pending_dir, folded)
            _fsync_dir(folded.parent)
            shutil.rmtree(folded)
            if own is not None:
                self._own_folded = own

    def _folded(self, parts: list[pa.Table]) -> pa.Table:
        """``latest`` with the parts applied in journal order: the last change of a key wins."""
        latest = self._read_table(self.latest_path)
        changes = pa.concat_tables(_align(parts, _column_order(parts, [KEY, OPERATION])))
        changes = changes.append_column(_ROW, pa.array(range(changes.num_rows), pa.int64()))
        last = changes.group_by(KEY).aggregate([(_ROW, "max")])
        rows = pc.sort_indices(last[f"{_ROW}_max"])
        changes = changes.take(pc.take(last[f"{_ROW}_max"], rows))
        kept = latest.filter(pc.invert(pc.is_in(latest[KEY].cast(pa.string()), value_set=changes[KEY])))
        upserts = changes.filter(pc.equal(changes[OPERATION], Operation.UPSERT.value))
        upserts = upserts.drop_columns([OPERATION, _ROW])
        tables = [kept, upserts]
        return pa.concat_tables(_align(tables, _column_order(tables, [KEY])))

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Re-applying a record is idempotent and nothing needs looking up: in-doubt
        records are RETRYABLE."""
        return [RecordResult(r.key, Outcome.RETRYABLE) for r in records]
