"""File export and webhook destinations driven by the sync engine on a DuckDB warehouse."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from connectors.file.destination import FileExport
from connectors.webhook.sandbox import WebhookReceiver
from syncs import engine
from syncs.config import DestinationSpec, FieldMapping, Policies, SyncConfig
from syncs.registry import build_destination


def warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema audiences")
    con.execute("create schema marts")
    con.execute("create table audiences.aud_vip (profile_id varchar, email varchar, points integer, variant varchar)")
    con.execute("insert into audiences.aud_vip select 'prof' || i, 'v' || i || '@example.com', i * 10, 'treatment' "
                "from range(25) t(i)")
    con.execute("create table marts.customer_consent (profile_id varchar, channel varchar, is_consented boolean, "
                "consent_source varchar, consent_changed_at timestamp)")
    con.execute("create table marts.customer_suppressions (profile_id varchar, channel varchar, reason varchar, "
                "suppressed_at timestamp)")
    con.execute("create table marts.marketing_pressure (profile_id varchar, channel varchar, pressure double)")
    return con


def sync(kind: str, options: dict) -> SyncConfig:
    return SyncConfig(
        name=f"aud_vip__{kind}", audience="aud_vip", schema_name="audiences", table="aud_vip",
        destination_name=kind, destination=DestinationSpec(type=kind, options=options), mode="mirror",
        channel="none", identifiers={"profile_id": "profile_id"},
        fields={"email": FieldMapping(column="email"), "points": FieldMapping(column="points")},
        policies=Policies(max_removal_share=0.5),
    )


def test_file_export_mirror_through_the_engine(tmp_path: Path) -> None:
    con = warehouse(tmp_path / "wh.duckdb")
    s = sync("file", {"path": str(tmp_path / "out"), "format": "parquet", "sync": "aud_vip__file"})
    assert engine.run(s, con, build_destination(s.destination)).status == "success"
    con.execute("delete from audiences.aud_vip where profile_id in ('prof1', 'prof2')")
    con.execute("update audiences.aud_vip set points = 999 where profile_id = 'prof3'")
    second = engine.run(s, con, build_destination(s.destination))
    assert second.status == "success" and second.sent == 3
    latest = {r["key"]: r for r in pq.read_table(tmp_path / "out" / "export__aud_vip__file_latest.parquet").to_pylist()}
    assert len(latest) == 23 and "prof1" not in latest and latest["prof3"]["points"] == 999
    assert latest["prof4"] == {"key": "prof4", "profile_id": "prof4", "email": "v4@example.com", "points": 40}
    assert len(list((tmp_path / "out" / "runs").iterdir())) == 2
    con.close()


def test_webhook_mirror_through_the_engine(tmp_path: Path) -> None:
    con = warehouse(tmp_path / "wh.duckdb")
    with WebhookReceiver(secret="engine-test-secret-0123") as receiver:
        s = sync("webhook", {"url": receiver.url(), "secret": "engine-test-secret-0123", "sync": "aud_vip__webhook"})
        receiver.faults.reject("prof7", "unknown customer")
        first = engine.run(s, con, build_destination(s.destination))
        assert first.status == "partial" and first.sent == 24 and first.failed == 1
        assert len(receiver.state.records) == 24 and "prof7" not in receiver.state.records
        receiver.faults.clear()
        again = engine.run(s, con, build_destination(s.destination))  # the rejected record is retried
        assert again.status == "success" and again.sent == 1 and "prof7" in receiver.state.records
        assert {b["sync"] for b in receiver.state.batches} == {"aud_vip__webhook"}
    con.close()


def test_file_export_in_many_concurrent_batches_equals_the_audience(tmp_path: Path) -> None:
    con = warehouse(tmp_path / "wh.duckdb")
    out = tmp_path / "out"
    s = sync("file", {"path": str(out), "format": "csv", "sync": "aud_vip__file", "max_batch_records": 3,
                      "max_concurrency": 3})
    first = engine.run(s, con, build_destination(s.destination))
    assert first.status == "success" and first.sent == 25
    latest = {r["key"]: r for r in csv.DictReader(open(out / "export__aud_vip__file_latest.csv", newline=""))}
    expected = {f"prof{i}": {"key": f"prof{i}", "profile_id": f"prof{i}", "email": f"v{i}@example.com",
                             "points": str(i * 10)} for i in range(25)}
    assert latest == expected
    assert not list((out / ".pending").rglob("*.arrow"))
    con.close()


def test_a_file_run_that_cannot_publish_fails_and_the_next_run_publishes_it(tmp_path: Path, monkeypatch) -> None:
    con = warehouse(tmp_path / "wh.duckdb")
    out = tmp_path / "out"
    s = sync("file", {"path": str(out), "format": "parquet", "sync": "aud_vip__file"})
    real = FileExport._write_table

    def disk_full_for_latest(self, path, table):
        if path == self.latest_path:
            raise OSError(28, "No space left on device")
        return real(self, path, table)

    monkeypatch.setattr(FileExport, "_write_table", disk_full_for_latest)
    failed = engine.run(s, con, build_destination(s.destination))
    assert failed.status == "failed" and "could not publish" in failed.error and "No space" in failed.error
    assert not (out / "export__aud_vip__file_latest.parquet").exists()
    monkeypatch.undo()
    again = engine.run(s, con, build_destination(s.destination))
    assert again.status == "success" and again.sent == 0  # the members were accepted and committed
    latest = pq.read_table(out / "export__aud_vip__file_latest.parquet").to_pylist()
    assert sorted(r["key"] for r in latest) == sorted(f"prof{i}" for i in range(25))
    con.close()
