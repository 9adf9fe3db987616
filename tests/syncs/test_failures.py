"""Failure handling: rejections, parking, safety stops, auth, retryable errors, kills, in-doubt sends."""

from __future__ import annotations

from dataclasses import replace

import pytest

from connectors.base import Capabilities
from syncs import engine
from tests.syncs.conftest import make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination, SimulatedKill


def rows(n: int, variant: str = "treatment", name: str = "N") -> list[tuple]:
    return [(f"p{i}", f"u{i}@x.com", name, variant, "2026-01-01") for i in range(n)]


def test_rejected_record_keeps_old_state_and_is_parked_after_max_attempts(conn):
    set_audience(conn, rows(3))
    sync = make_sync("mirror", policies={"max_attempts": 3})
    dest = LoopbackDestination(reject_keys={"p1"})
    for _attempt in (1, 2):
        r = engine.run(sync, conn, dest)
        assert r.status == "partial" and r.failed == 1 and r.parked == 0
        assert engine.plan(sync, conn, sample_size=0).counts["add"] == 1
    r = engine.run(sync, conn, dest)
    assert r.parked == 1 and r.failed == 0
    # parked: visible with its error, not retried
    p = engine.plan(sync, conn, sample_size=0)
    assert p.counts["parked"] == 1 and p.work == 0
    calls = len(dest.calls)
    assert engine.run(sync, conn, dest).status == "success"
    assert len(dest.calls) == calls
    status = conn.execute(
        "select attempts, parked, last_error from ferry_sync.record_status where record_key = 'p1'"
    ).fetchall()
    assert status == [(3, True, "invalid contact")]
    attempts = conn.execute(
        "select attempt from ferry_sync.record_results where record_key = 'p1' order by attempt"
    ).fetchall()
    assert [a for (a,) in attempts] == [1, 2, 3]
    # a new payload for the parked record gets a fresh chance
    conn.execute("update audiences.aud_test set first_name = 'Fixed' where profile_id = 'p1'")
    dest.reject_keys.clear()
    assert engine.plan(sync, conn, sample_size=0).counts["add"] == 1
    engine.run(sync, conn, dest)
    assert dest.members["p1"]["first_name"] == "Fixed"


def test_mass_removal_stops_for_confirmation(conn):
    set_audience(conn, rows(10))
    sync = make_sync("mirror", policies={"max_removal_share": 0.2})
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(conn, rows(7))  # 3 of 10 = 30% > 20%
    calls = len(dest.calls)
    r = engine.run(sync, conn, dest)
    assert r.status == "needs_confirmation" and "30%" in r.error
    assert len(dest.calls) == calls and len(dest.members) == 10
    assert engine.plan(sync, conn).stop_reason is not None
    r = engine.run(sync, conn, dest, confirm=True)
    assert r.status == "success" and len(dest.members) == 7


def test_empty_audience_stops_for_confirmation(conn):
    set_audience(conn, rows(3))
    sync = make_sync("mirror")  # share 100% allowed, but empty still stops
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(conn, [])
    r = engine.run(sync, conn, dest)
    assert r.status == "needs_confirmation" and "empty" in r.error
    assert len(dest.members) == 3


def test_destination_floor_is_respected(conn):
    set_audience(conn, rows(3))
    caps = replace(LoopbackDestination().capabilities, min_audience_size=100)
    r = engine.run(make_sync("mirror"), conn, LoopbackDestination(capabilities=caps))
    assert r.status == "needs_confirmation" and "minimum" in r.error


def test_auth_error_stops_the_run_and_keeps_committed_state(conn):
    set_audience(conn, rows(30))
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10)
    dest = LoopbackDestination(capabilities=caps, fault=lambda n, recs: "auth" if n == 2 else None)
    r = engine.run(make_sync("mirror"), conn, dest)
    assert r.status == "auth_failed" and r.sent == 10
    assert len(dest.calls) == 2  # stopped: no third batch
    hashes = conn.execute(
        "select payload_hash = '__pending_add__', count(*) from ferry_sync.sync_state group by 1 order by 1"
    ).fetchall()
    # 10 accepted; the 10 of the failed request stay marked as possible adds (they re-plan as
    # adds and are removable if members leave); the 10 never sent are not held at all
    assert hashes == [(False, 10), (True, 10)]
    assert not conn.execute(
        "select count(*) from information_schema.tables where table_name like 'pending_%'"
    ).fetchone()[0], "the write-ahead is released once every request that left is committed"
    dest.fault = None
    assert engine.run(make_sync("mirror"), conn, dest).sent == 20
    assert len(dest.members) == 30


def test_retryable_error_leaves_batch_pending(conn):
    set_audience(conn, rows(20))
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10)
    dest = LoopbackDestination(capabilities=caps, fault=lambda n, recs: "429" if n == 1 else None)
    r = engine.run(make_sync("mirror"), conn, dest)
    # the run stops at the first batch that exhausted the retry budget, and says so
    assert r.status == "failed" and r.pending == 10 and r.sent == 0
    assert "kept failing" in r.error and "20 records left for the next run (10 of them not tried)" in r.error
    assert len(dest.calls) == 1
    # no attempt counted against parking
    assert conn.execute("select count(*) from ferry_sync.record_status").fetchone()[0] == 0
    assert engine.run(make_sync("mirror"), conn, dest).sent == 20


def killed_mirror_run(conn):
    """20 members, batches of 10, the process killed after the destination applied the 2nd."""
    set_audience(conn, rows(20))
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10)
    dest = LoopbackDestination(capabilities=caps, fault=lambda n, recs: "kill" if n == 2 else None)
    sync = make_sync("mirror")
    with pytest.raises(SimulatedKill):
        engine.run(sync, conn, dest)
    return sync, dest


def test_kill_between_request_and_commit_replans_without_loss(conn):
    """Both batches reached the destination, neither commit did (commits wait for the next
    flush, syncs.runner.Runner.flush): the next run sends all 20 again (idempotent upserts),
    none is lost and nothing is left planned."""
    sync, dest = killed_mirror_run(conn)
    assert conn.execute("select status from ferry_sync.runs").fetchall() == [("crashed",)]
    assert (
        conn.execute(
            "select count(*) from ferry_sync.sync_state where payload_hash <> '__pending_add__'"
        ).fetchone()[0]
        == 0
    )
    dest.fault = None
    r = engine.run(sync, conn, dest)
    assert r.sent == 20 and len(dest.members) == 20
    assert engine.plan(sync, conn, sample_size=0).work == 0


def test_send_in_doubt_is_reconciled_not_resent(conn):
    set_audience(conn, rows(4))
    sync = make_sync("send")
    dest = LoopbackDestination(fault=lambda n, recs: "lost" if n == 1 else None)
    r = engine.run(sync, conn, dest)
    assert r.in_doubt == 4 and r.status == "failed"
    assert "4 sends in doubt" in r.error and "read timeout" in r.error
    assert engine.plan(sync, conn, sample_size=0).counts["in_doubt"] == 4
    r = engine.run(sync, conn, dest)
    assert r.reconciled == 4 and r.sent == 0
    assert len(dest.sends) == 4 and len(dest.calls) == 1  # settled by lookup, never resent


def test_send_killed_after_request_is_reconciled(conn):
    set_audience(conn, rows(4))
    sync = make_sync("send")
    dest = LoopbackDestination(fault=lambda n, recs: "kill" if n == 1 else None)
    with pytest.raises(SimulatedKill):
        engine.run(sync, conn, dest)
    assert conn.execute("select distinct status from ferry_sync.send_ledger").fetchall() == [
        ("intent",)
    ]
    dest.fault = None
    set_audience(conn, rows(5))
    r = engine.run(sync, conn, dest)
    assert r.reconciled == 4 and r.sent == 1
    assert sorted(k for _, k in dest.sends) == [f"p{i}" for i in range(5)]


def test_send_proven_absent_is_sent_and_unsettled_stays_in_doubt(conn):
    set_audience(conn, rows(2))
    sync = make_sync("send")
    # the first request never reached the destination, then the answer was lost
    dest = LoopbackDestination(fault=lambda n, recs: "5xx" if n == 1 else None)
    r = engine.run(sync, conn, dest)
    assert r.in_doubt == 2 and dest.sends == []
    idem = conn.execute(
        "select idempotency_key from ferry_sync.send_ledger where record_key = 'p0'"
    ).fetchone()[0]
    dest.reconcile_unsettled.add(idem)
    r = engine.run(sync, conn, dest)
    assert r.reconciled == 1 and r.in_doubt == 1 and r.sent == 1
    assert r.status == "needs_attention" and "1 sends in doubt (lookup unavailable)" in r.error
    assert [k for _, k in dest.sends] == ["p1"]
    assert engine.plan(sync, conn, sample_size=0).counts["in_doubt"] == 1
    engine.run(sync, conn, dest)
    assert [k for _, k in dest.sends] == ["p1"]  # in doubt stays unsent: never a blind resend
    status, error = conn.execute(
        "select status, error from ferry_sync.send_ledger where record_key = 'p0'"
    ).fetchone()
    assert status == "in_doubt" and "lookup unavailable" in error
    # once the destination can answer, it settles itself: proven absent, then sent once
    dest.reconcile_unsettled.clear()
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.reconciled == 1 and r.sent == 1
    assert sorted(k for _, k in dest.sends) == ["p0", "p1"]


def test_batches_respect_record_and_byte_limits_and_concurrency(conn):
    set_audience(conn, rows(95, name="x" * 50))
    caps = Capabilities(
        modes=frozenset({"mirror"}),
        identifiers=frozenset({"email"}),
        max_batch_records=20,
        max_batch_bytes=700,
        max_concurrency=3,
    )
    dest = LoopbackDestination(capabilities=caps)
    r = engine.run(make_sync("mirror"), conn, dest)
    assert r.sent == 95 and len(dest.members) == 95
    import json

    for call in dest.calls:
        assert len(call) <= 20
        assert sum(len(json.dumps(dict(x.payload))) + 2 for x in call) <= 700
    assert len(dest.calls) >= 95 * 80 // 700


def test_unsupported_mode_is_refused_before_planning(conn):
    set_audience(conn, rows(2))
    caps = Capabilities(
        modes=frozenset({"upsert"}), identifiers=frozenset({"email"}), max_batch_records=10
    )
    from syncs.config import SyncConfigError

    with pytest.raises(SyncConfigError, match="mode 'mirror'"):
        engine.run(make_sync("mirror"), conn, LoopbackDestination(capabilities=caps))


def test_kill_after_add_then_member_leaves_is_still_removed(conn):
    """The orphan hypothesis found: an add applied but never committed must still be removable."""
    set_audience(conn, rows(2))
    sync = make_sync("mirror")
    dest = LoopbackDestination(fault=lambda n, recs: "kill" if n == 1 else None)
    with pytest.raises(SimulatedKill):
        engine.run(sync, conn, dest)
    assert set(dest.members) == {"p0", "p1"}
    dest.fault = None
    set_audience(conn, rows(1))  # p1 left before the next run
    engine.run(sync, conn, dest, confirm=True)
    assert set(dest.members) == {"p0"}


def test_kill_after_remove_then_member_returns_is_re_added(conn):
    set_audience(conn, rows(2))
    sync = make_sync("mirror")
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(conn, rows(1))
    dest.fault = lambda n, recs: "kill"
    with pytest.raises(SimulatedKill):
        engine.run(sync, conn, dest, confirm=True)
    assert set(dest.members) == {"p0"}
    dest.fault = None
    set_audience(conn, rows(2))  # p1 is back with the same payload
    engine.run(sync, conn, dest)
    assert set(dest.members) == {"p0", "p1"}


def test_duplicate_keys_fail_the_run_before_sending(conn):
    set_audience(conn, rows(3) + [("p1", "other@x.com", "N", "treatment", "2026-01-01")])
    dest = LoopbackDestination()
    r = engine.run(make_sync("mirror"), conn, dest)
    assert r.status == "failed" and "duplicate" in r.error
    assert dest.calls == []


def test_unpark_releases_reviewed_records(conn):
    from syncs.history import parked, unpark

    set_audience(conn, rows(3))
    sync = make_sync("mirror", policies={"max_attempts": 1})
    dest = LoopbackDestination(reject_keys={"p1", "p2"})
    engine.run(sync, conn, dest)
    assert [p["record_key"] for p in parked(conn, sync.name)] == ["p1", "p2"]
    assert parked(conn, sync.name)[0]["error"] == "invalid contact"
    dest.reject_keys.clear()
    assert unpark(conn, sync.name, ["p1"]) == 1
    engine.run(sync, conn, dest)
    assert set(dest.members) == {"p0", "p1"}
    assert [p["record_key"] for p in parked(conn, sync.name)] == ["p2"]


def test_killed_run_write_ahead_is_counted_by_plans_and_folded_by_the_next_run(conn):
    """A kill after the destination applied a batch: those adds are known through the killed
    run's write-ahead table, so a member who left meanwhile is removed, not orphaned."""
    sync, dest = killed_mirror_run(conn)
    second = {r.key for r in dest.calls[1]}  # applied at the destination, never committed
    assert second <= set(dest.members)
    leaver = min(second)
    set_audience(conn, [row for row in rows(20) if row[0] != leaver])
    tables = "select count(*) from information_schema.tables where table_name like 'pending_%'"
    # A table per write-ahead window (syncs.write_ahead_windows): each batch's 10 rows.
    assert conn.execute(tables).fetchone()[0] == 2
    p = engine.plan(sync, conn, sample_size=0)  # dry run: counts the write-ahead, writes nothing
    # Neither batch's commit happened (both wait for a flush): 19 adds again and the leaver out.
    assert p.counts["remove"] == 1 and p.counts["add"] == 19 and p.held == 20
    assert conn.execute(tables).fetchone()[0] == 2
    dest.fault = None
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.sent == 20
    assert conn.execute(tables).fetchone()[0] == 0
    assert set(dest.members) == {f"p{i}" for i in range(20)} - {leaver}
    assert engine.plan(sync, conn, sample_size=0).work == 0


def test_whole_batch_answer_commits_state_and_per_record_results(conn):
    """BatchAccepted (no RecordResult per accepted record) still yields per-record results."""
    from connectors.base import BatchAccepted

    class WholeBatch(LoopbackDestination):
        def write(self, records):
            results = super().write(records)
            ids = {res.key: res.destination_id for res in results if res.destination_id}
            return BatchAccepted(destination_ids=ids)

    set_audience(conn, rows(25))
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10)
    sync = make_sync("mirror")
    r = engine.run(sync, conn, WholeBatch(capabilities=caps))
    assert r.status == "success" and r.sent == 25
    assert conn.execute(
        "select count(*), count(distinct record_key), min(status), min(attempt) from ferry_sync.record_results"
    ).fetchone() == (25, 25, "accepted", 1)
    assert (
        conn.execute(
            "select count(*) from ferry_sync.sync_state where destination_id = 'd-' || record_key"
        ).fetchone()[0]
        == 25
    )
    assert engine.plan(sync, conn, sample_size=0).work == 0


def test_updates_and_recoveries_replace_state_and_status_rows(conn):
    """The column-wise commit deletes a held record's old state and a recovered record's
    failure row (it knows which from the plan), so each key keeps one row."""
    set_audience(conn, rows(30))
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10)
    dest = LoopbackDestination(capabilities=caps, reject_keys={"p3", "p17"})
    sync = make_sync("mirror")
    assert engine.run(sync, conn, dest).failed == 2
    set_audience(conn, rows(30, name="M"))  # every payload changes: 28 updates, 2 adds
    dest.reject_keys.clear()
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.sent == 30
    assert conn.execute(
        "select count(*), count(distinct record_key), min(payload_hash) <> '__pending_add__' "
        "from ferry_sync.sync_state"
    ).fetchone() == (30, 30, True)
    assert conn.execute("select count(*) from ferry_sync.record_status").fetchone()[0] == 0
    assert {m["first_name"] for m in dest.members.values()} == {"M"}
    assert engine.plan(sync, conn, sample_size=0).work == 0
