"""File export: atomic CSV/Parquet files whose content equals what was written."""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from connectors.base import Destination, Operation, Outcome, Record
from connectors.file import destination as file_destination
from connectors.file.destination import FileExport


def rec(i: int, op: Operation = Operation.UPSERT, **payload) -> Record:
    base = {"email": f"p{i}@example.com", "points": i * 10, "birth_date": dt.date(1990, 1, i + 1),
            "score": i / 4, "tier": None if i % 2 else "gold"}
    base.update(payload)
    return Record(f"p{i}", op, base)


def export(tmp_path: Path, fmt: str, **options) -> FileExport:
    d = FileExport.from_options({"path": str(tmp_path), "format": fmt, "name": "win_back", "run_id": "r1", **options})
    assert isinstance(d, Destination)
    return d


def test_parquet_content_equals_input(tmp_path: Path) -> None:
    d = export(tmp_path, "parquet")
    records = [rec(i) for i in range(5)]
    assert {r.outcome for r in d.write(records)} == {Outcome.ACCEPTED}
    d.finish()
    latest = pq.read_table(tmp_path / "win_back_latest.parquet").to_pylist()
    assert latest == [{"key": r.key, **r.payload} for r in records]  # types kept: int, date, float, null
    run = pq.read_table(tmp_path / "runs" / "win_back_r1.parquet").to_pylist()
    assert run == [{"key": r.key, "operation": "upsert", **r.payload} for r in records]


def test_csv_content_equals_input(tmp_path: Path) -> None:
    d = export(tmp_path, "csv")
    records = [rec(i, note='has "quotes", commas\nand a newline') for i in range(3)]
    d.write(records)
    d.finish()
    with open(tmp_path / "win_back_latest.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = [{"key": r.key, **{k: "" if v is None else (v.isoformat() if isinstance(v, dt.date) else str(v))
                                  for k, v in r.payload.items()}} for r in records]
    assert rows == expected


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_modes_update_remove_delete_across_batches(tmp_path: Path, fmt: str) -> None:
    d = export(tmp_path, fmt)
    d.write([rec(i) for i in range(4)])
    d.write([rec(1, points=999), rec(2, Operation.REMOVE), rec(3, Operation.DELETE), rec(7)])
    d.finish()
    latest = {row["key"]: row for row in d.read(d.latest_path)}
    assert set(latest) == {"p0", "p1", "p7"}
    assert str(latest["p1"]["points"]) == "999"
    run = d.read(d.run_path)
    assert [(r["key"], r["operation"]) for r in run] == [
        ("p0", "upsert"), ("p1", "upsert"), ("p2", "upsert"), ("p3", "upsert"),
        ("p1", "upsert"), ("p2", "remove"), ("p3", "delete"), ("p7", "upsert")]
    erased = [r for r in run if r["operation"] == "delete"][0]
    assert not erased.get("email")  # erasure rows hold no personal data
    # a new run: a new run file, the same latest
    d2 = export(tmp_path, fmt, run_id="r2")
    d2.write([rec(9)])
    d2.finish()
    assert {row["key"] for row in d2.read(d2.latest_path)} == {"p0", "p1", "p7", "p9"}
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [f"win_back_r1.{d.ext}", f"win_back_r2.{d.ext}"]


def _break_writes_of(monkeypatch, fmt: str, name_part: str) -> None:
    """Writes of files whose path holds `name_part` break half-way ("disk full")."""
    real_write_table = pq.write_table
    real_write_feather = file_destination.feather.write_feather
    real_copy = file_destination.FileExport._write_table

    def half_then_full(where) -> None:
        with open(where, "wb") as fh:
            fh.write(b"PAR1 partial")
        raise OSError(28, "No space left on device")

    def broken_parquet(table, where, **kw):
        return half_then_full(where) if name_part in str(where) else real_write_table(table, where, **kw)

    def broken_feather(table, where, **kw):
        return half_then_full(where) if name_part in str(where) else real_write_feather(table, where, **kw)

    def broken_table(self, path, table):
        if name_part in str(path) and fmt == "csv":
            return file_destination.atomic_write(path, half_then_full)
        return real_copy(self, path, table)

    monkeypatch.setattr(file_destination.pq, "write_table", broken_parquet)
    monkeypatch.setattr(file_destination.feather, "write_feather", broken_feather)
    monkeypatch.setattr(file_destination.FileExport, "_write_table", broken_table)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_batch_the_disk_refuses_is_retryable_and_leaves_nothing(tmp_path: Path, fmt: str, monkeypatch) -> None:
    d = export(tmp_path, fmt)
    d.write([rec(0), rec(1)])
    _break_writes_of(monkeypatch, fmt, ".pending")
    results = d.write([rec(2), rec(0, Operation.REMOVE)])
    assert {r.outcome for r in results} == {Outcome.RETRYABLE}
    assert [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []
    assert len(list(d.pending_dir.glob("*.arrow"))) == 1  # the first batch only
    monkeypatch.undo()
    # the retry of the same batch succeeds and the files are whole
    assert {r.outcome for r in d.write([rec(2), rec(0, Operation.REMOVE)])} == {Outcome.ACCEPTED}
    d.finish()
    assert {row["key"] for row in d.read(d.latest_path)} == {"p1", "p2"}
    run = [(r["key"], r["operation"]) for r in d.read(d.run_path)]
    assert run == [("p0", "upsert"), ("p1", "upsert"), ("p2", "upsert"), ("p0", "remove")]  # no duplicates
    assert list(d.pending_dir.glob("*.arrow")) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_fold_the_disk_refuses_keeps_the_previous_latest_and_the_parts(
    tmp_path: Path, fmt: str, monkeypatch
) -> None:
    d = export(tmp_path, fmt)
    d.write([rec(0), rec(1)])
    d.finish()
    before = d.latest_path.read_bytes()
    d2 = export(tmp_path, fmt, run_id="r2")
    d2.write([rec(2), rec(0, Operation.REMOVE)])
    _break_writes_of(monkeypatch, fmt, "_latest")
    with pytest.raises(OSError, match="No space"):
        d2.finish()
    assert d.latest_path.read_bytes() == before  # the previous file, whole and untouched
    assert [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []
    assert len(list(d2.pending_dir.glob("*.arrow"))) == 1  # the accepted batch is kept
    monkeypatch.undo()
    # the next run publishes it, with its own batches after it
    d3 = export(tmp_path, fmt, run_id="r3")
    d3.write([rec(1, Operation.REMOVE), rec(5)])
    d3.finish()
    assert {row["key"] for row in d3.read(d3.latest_path)} == {"p2", "p5"}
    assert [(r["key"], r["operation"]) for r in d3.read(d2.run_path)] == [("p2", "upsert"), ("p0", "remove")]
    assert [(r["key"], r["operation"]) for r in d3.read(d3.run_path)] == [("p1", "remove"), ("p5", "upsert")]


@pytest.mark.parametrize("kill_at", ["rename", "delete"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_killed_run_is_published_by_the_next_and_a_killed_fold_folds_again_the_same(
    tmp_path: Path, fmt: str, kill_at: str, monkeypatch, caplog
) -> None:
    """A run killed before finish() leaves its journal; a fold killed after writing the
    files (before the rename that marks the parts folded, or while deleting them) is
    finished by the next run, to the same files: no run file loses a row."""
    killed = export(tmp_path, fmt, run_id="killed")
    killed.write([rec(0), rec(1)])
    killed.write([rec(2), rec(1, points=111)])  # no finish(): the process died here
    killed.write([rec(4)])
    assert not killed.latest_path.exists()
    fold = export(tmp_path, fmt, run_id="folding")
    fold.write([rec(3)])
    real_replace, real_unlink = os.replace, Path.unlink

    def killed_at_rename(src, dst):
        if Path(src) == fold.pending_dir:
            raise KeyboardInterrupt("killed after the files were written")
        real_replace(src, dst)

    def killed_while_deleting(path, *a, **kw):
        parts = sorted(Path(path).glob("*.arrow"))
        real_unlink(parts[0])  # one part gone, then the process dies
        raise KeyboardInterrupt("killed while deleting the folded parts")

    if kill_at == "rename":
        monkeypatch.setattr(file_destination.os, "replace", killed_at_rename)
    else:
        monkeypatch.setattr(file_destination.shutil, "rmtree", killed_while_deleting)
    with pytest.raises(KeyboardInterrupt), caplog.at_level("WARNING", logger="connectors.file.destination"):
        fold.finish()
    monkeypatch.undo()
    latest_then = fold.read(fold.latest_path)
    runs_then = {p.name: fold.read(p) for p in (tmp_path / "runs").iterdir()}
    nxt = export(tmp_path, fmt, run_id="next")
    nxt.finish()  # a run with nothing to write still publishes what was left
    # the killed run's rows were published by a later run, and it said so (no values logged)
    assert "publishing 5 rows that run(s) killed accepted but did not publish" in caplog.text
    assert "@example.com" not in caplog.text
    assert nxt.read(nxt.latest_path) == latest_then
    assert {p.name: nxt.read(p) for p in (tmp_path / "runs").iterdir()} == runs_then
    latest = {row["key"]: row for row in latest_then}
    assert set(latest) == {"p0", "p1", "p2", "p3", "p4"} and str(latest["p1"]["points"]) == "111"
    assert [r["key"] for r in nxt.read(killed.run_path)] == ["p0", "p1", "p2", "p1", "p4"]
    assert not list((tmp_path / ".pending").rglob("*.arrow"))
    nxt.write([rec(9)])  # the journal goes on after a finished fold
    nxt.finish()
    assert {row["key"] for row in nxt.read(nxt.latest_path)} == {"p0", "p1", "p2", "p3", "p4", "p9"}


def test_replace_is_atomic_for_readers(tmp_path: Path, monkeypatch) -> None:
    """A reader opening latest at any moment sees either the old or the new file."""
    d = export(tmp_path, "parquet")
    d.write([rec(0)])
    d.finish()
    seen: list[int] = []
    real_replace = os.replace

    def spying_replace(src, dst):
        if str(dst).endswith("win_back_latest.parquet"):
            seen.append(pq.read_table(dst).num_rows)  # just before the swap: still the old, whole file
        real_replace(src, dst)

    monkeypatch.setattr(file_destination.os, "replace", spying_replace)
    d.write([rec(1), rec(2)])
    assert seen == []  # a batch does not touch latest: readers see whole runs
    d.finish()
    assert seen == [1] and pq.read_table(d.latest_path).num_rows == 3


def test_syncs_sharing_a_destination_get_their_own_files(tmp_path: Path) -> None:
    a = export(tmp_path, "csv", name="file_export", sync="win_back_file")
    b = export(tmp_path, "csv", name="file_export", sync="detractors_file", identifiers=["customer_id"])
    a.write([rec(1)])
    b.write([rec(2)])
    a.finish()
    b.finish()
    assert a.latest_path != b.latest_path
    assert [r["key"] for r in a.read(a.latest_path)] == ["p1"]
    assert [r["key"] for r in b.read(b.latest_path)] == ["p2"]
    assert b.capabilities.identifiers == frozenset({"customer_id"})


def test_options_and_send_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format"):
        FileExport.from_options({"path": str(tmp_path), "format": "xlsx"})
    with pytest.raises(ValueError, match="name"):
        FileExport.from_options({"path": str(tmp_path), "name": "../escape"})
    d = export(tmp_path, "csv")
    [res] = d.write([Record("p1", Operation.SEND, {"email": "x@example.com"})])
    assert res.outcome is Outcome.REJECTED
    assert {r.outcome for r in d.reconcile([rec(1)])} == {Outcome.RETRYABLE}


def test_parquet_batches_of_different_types_fold_as_one_batch_of_all_values_would(tmp_path: Path) -> None:
    """Empty lists in one batch, ints in one and floats in another, structs with other
    fields: the fold unifies them (it must never block the journal for good)."""
    d = export(tmp_path, "parquet")
    d.write([rec(0, tags=[], amount=1, extra={"a": 1}, code=7), rec(1, tags=[], amount=2, extra={"a": 2})])
    d.write([rec(2, tags=["vip"], amount=2.5, extra={"a": 3, "b": "x"})])
    d.write([rec(3, tags=[1, 2], amount=3, extra=None, code="n/a")])  # tags, code: no common type: text
    d.finish()
    latest = {row["key"]: row for row in d.read(d.latest_path)}
    assert latest["p0"]["amount"] == 1.0 and latest["p2"]["amount"] == 2.5 and latest["p3"]["amount"] == 3.0
    assert [latest[k]["code"] for k in ("p0", "p2", "p3")] == ["7", None, "n/a"]
    assert latest["p0"]["extra"] == {"a": 1, "b": None} and latest["p2"]["extra"] == {"a": 3, "b": "x"}
    assert [latest[k]["tags"] for k in ("p0", "p2", "p3")] == ["[]", "['vip']", "[1, 2]"]
    assert not list(d.pending_dir.glob("*.arrow"))


def test_a_large_csv_with_line_breaks_in_values_folds_again(tmp_path: Path) -> None:
    """Over a megabyte, Arrow reads a CSV in blocks: a quoted line break must not split one."""
    d = export(tmp_path, "csv")
    d.write([Record(f"k{i}", Operation.UPSERT, {"address": f"{i} Main Street\nApt {i}", "empty": ""})
             for i in range(60_000)])  # fmt: skip
    d.finish()
    assert d.latest_path.stat().st_size > 2_000_000
    d2 = export(tmp_path, "csv", run_id="r2")
    d2.write([Record("k1", Operation.REMOVE, {}), Record("new", Operation.UPSERT, {"address": "a\nb"})])
    d2.finish()
    rows = d2.read(d2.latest_path)
    assert len(rows) == 60_000 and rows[0] == {"key": "k0", "address": "0 Main Street\nApt 0", "empty": ""}
    assert rows[-1] == {"key": "new", "address": "a\nb", "empty": ""}
    raw = d2.latest_path.read_bytes()
    assert raw.startswith(b"key,address,empty\r\nk0,") and b'""' not in raw  # Python csv's format, as before
