"""Production rules of the engine: one run per sync, state bound to the destination's
identity, erasure and identifier changes reaching the destination, payload faults kept
to their record, and run statuses that say what happened."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass, replace

import duckdb
import pytest

from connectors.base import Outcome, Record, RecordResult
from syncs import engine, lease
from syncs import state as st
from syncs.warehouse import Warehouse
from tests.syncs.conftest import create_warehouse, make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination


def rows(n: int, name: str = "N", start: int = 0) -> list[tuple]:
    return [(f"p{i}", f"u{i}@x.com", name, "treatment", "2026-01-01") for i in range(start, n)]


@dataclass
class Named(LoopbackDestination):
    """A loopback destination that declares an identity, like a real connector."""

    identity: str = "loopback:account-a:list-1"

    @property
    def destination_identity(self) -> str:
        return self.identity

    @property
    def target_label(self) -> str:
        return "sandbox"


class Blocking(LoopbackDestination):
    """Holds its first write until released: a run caught in the middle of sending."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, records: list[Record]) -> list[RecordResult]:
        self.entered.set()
        assert self.release.wait(60), "the test never released the first run"
        return super().write(records)


# --------------------------------------------------------------------------- one run at a time


def _second_run_while_first_sends(first_conn, second_conn, sync) -> tuple:
    dest = Blocking()
    results: dict[str, engine.RunResult] = {}
    worker = threading.Thread(target=lambda: results.update(a=engine.run(sync, first_conn, dest)))
    worker.start()
    assert dest.entered.wait(60)
    second = engine.run(sync, second_conn, dest)
    dest.release.set()
    worker.join(60)
    return results["a"], second, dest


def test_two_runs_of_one_sync_on_duckdb_exactly_one_sends(tmp_path) -> None:
    path = str(tmp_path / "wh.duckdb")
    first = duckdb.connect(path)
    create_warehouse(first)
    set_audience(first, rows(30))
    sync = make_sync("send")
    a, b, dest = _second_run_while_first_sends(first, duckdb.connect(path), sync)
    assert a.status == "success" and a.sent == 30
    assert b.status == "busy" and b.sent == 0
    assert b.error.startswith(f"sync {sync.name} is running since ") and a.run_id[:8] in b.error
    assert len(dest.sends) == 30 and len({k for _, k in dest.sends}) == 30
    # the lease is released: the next run goes ahead (and has nothing to send)
    assert engine.run(sync, first, dest).status == "success" and len(dest.sends) == 30


@pytest.mark.postgres
def test_two_runs_of_one_sync_on_postgres_exactly_one_sends(pg_server, pg_conn) -> None:
    import psycopg

    from tests.syncs.test_postgres import load

    pg_conn.execute("create schema audiences; create schema marts")
    pg_conn.execute(
        "create table audiences.aud_test (profile_id text, email text, first_name text, variant text, entered_at text)"
    )
    pg_conn.execute(
        "create table marts.customer_consent (profile_id text, channel text, is_consented boolean, "
        "consent_source text, consent_changed_at timestamp)"
    )
    pg_conn.execute(
        "create table marts.customer_suppressions (profile_id text, channel text, reason text, suppressed_at timestamp)"
    )
    load(pg_conn, rows(25))
    dbname = pg_conn.info.dbname
    other = psycopg.connect(**{**pg_server, "dbname": dbname}, autocommit=True)
    sync = make_sync("send")
    a, b, dest = _second_run_while_first_sends(pg_conn, other, sync)
    assert (a.status, a.sent) == ("success", 25)
    assert b.status == "busy" and "is running since" in b.error
    assert len(dest.sends) == 25
    other.close()


def test_a_killed_holder_is_taken_over_and_its_run_marked_crashed(conn) -> None:
    set_audience(conn, rows(3))
    sync = make_sync("mirror")
    wh = Warehouse(conn)
    st.ensure_state(wh)
    # a process of this host that held the lease and died (its pid no longer exists)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lease.ensure_leases(wh)
    conn.execute(
        f"insert into {st.RUNS} (run_id, sync_name, status, started_at) values ('deadrun1', ?, 'running', now())",
        [sync.name],
    )
    conn.execute(
        f"insert into {lease.LEASES} values (?, 'deadrun1', ?, now(), now(), now() + interval 1 hour)",
        [sync.name, f"{lease.socket.gethostname()}:{dead.pid}"],
    )
    r = engine.run(sync, conn, LoopbackDestination())
    assert r.status == "success" and r.sent == 3
    status, error = conn.execute(
        f"select status, error from {st.RUNS} where run_id = 'deadrun1'"
    ).fetchone()
    assert status == "crashed" and "lease was taken over" in error


def test_a_live_remote_holder_makes_the_run_busy_until_expiry(conn) -> None:
    set_audience(conn, rows(3))
    sync = make_sync("mirror")
    wh = Warehouse(conn)
    st.ensure_state(wh)
    lease.ensure_leases(wh)
    conn.execute(
        f"insert into {lease.LEASES} values (?, 'remote01', 'another-host:123', "
        "timestamp '2026-12-07 10:32:00', now(), now() + interval 1 hour)",
        [sync.name],
    )
    dest = LoopbackDestination()
    r = engine.run(sync, conn, dest)
    assert r.status == "busy" and r.error == f"sync {sync.name} is running since 2026-12-07 10:32 UTC (run remote01)"
    assert dest.calls == []
    assert engine.plan(sync, conn).running.startswith("run remote01")
    conn.execute(f"update {lease.LEASES} set expires_at = now() - interval 1 minute")
    assert engine.run(sync, conn, dest).status == "success"


def test_a_run_that_lost_its_lease_stops_before_sending_more(conn) -> None:
    set_audience(conn, rows(40))
    sync = make_sync("mirror")
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10)

    def steal(n: int, _records: list[Record]) -> None:
        if n == 2:  # another run took the lease over while this one stalled
            conn.execute(f"update {lease.LEASES} set run_id = 'thief000'")

    dest = LoopbackDestination(capabilities=caps, fault=steal)
    # A ttl of 0: the run is past its lease's expiry at once, as one that stalled for longer
    # than its ttl (only then may another run take the lease over), so it reads the lease
    # before each request (syncs.lease.Lease.may_be_lost).
    r = engine.run(sync, conn, dest, lease_ttl=0)
    assert r.status == "failed" and "lost its lease" in r.error
    assert len(dest.calls) == 2  # the check before the third request: nothing more left
    conn.execute(f"delete from {lease.LEASES}")
    dest.fault = None
    r = engine.run(sync, conn, dest)  # the write-ahead makes the next run complete the work
    assert r.status == "success" and set(dest.members) == {f"p{i}" for i in range(40)}


def test_a_run_within_its_lease_reads_the_lease_only_in_its_commits(conn, monkeypatch) -> None:
    """Before its lease's known expiry approaches no other run can take it over, so a run
    does not read the lease row before each request: only the commits that renew it do
    (the fence). A row changed behind the engine's back is still caught by the next one."""
    set_audience(conn, rows(40))
    sync = make_sync("mirror")
    # Four requests in flight: the first write-ahead window (which renews) holds all 40 rows.
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10, max_concurrency=4)
    reads = {"check": 0, "renew": 0}
    check, renew = lease.Lease.check, lease.Lease.renew

    def counted_check(self: lease.Lease) -> None:
        reads["check"] += 1
        check(self)

    def counted_renew(self: lease.Lease) -> None:
        reads["renew"] += 1
        renew(self)

    monkeypatch.setattr(lease.Lease, "check", counted_check)
    monkeypatch.setattr(lease.Lease, "renew", counted_renew)
    dest = LoopbackDestination(capabilities=caps)
    assert engine.run(sync, conn, dest).status == "success" and len(dest.calls) == 4
    assert reads["check"] == reads["renew"] > 0  # each read is a renewal's: none per request

    set_audience(conn, rows(60))

    def steal(n: int, _records: list[Record]) -> None:
        if n == 1:
            conn.execute(f"update {lease.LEASES} set run_id = 'thief000'")

    dest.fault = steal
    dest.calls.clear()
    r = engine.run(sync, conn, dest)
    assert r.status == "failed" and "lost its lease" in r.error  # the last commit's fence
    conn.execute(f"delete from {lease.LEASES}")
    dest.fault = None
    assert engine.run(sync, conn, dest).status == "success"
    assert set(dest.members) == {f"p{i}" for i in range(60)}


# --------------------------------------------------------------------------- destination identity


def test_a_re_pointed_sync_starts_fresh_and_never_touches_the_old_target(conn) -> None:
    set_audience(conn, rows(10))
    sync = make_sync("mirror")
    old = Named(identity="loopback:account-a:list-1")
    assert engine.run(sync, conn, old).sent == 10
    new = Named(identity="loopback:account-b:list-9")
    p = engine.plan(sync, conn, destination=new)
    assert p.counts["add"] == 10 and p.held == 0 and p.held_elsewhere == 10
    assert p.headline().startswith("new destination at sandbox: full sync, 10 adds")
    set_audience(conn, rows(8))  # two members leave before the first run at the new target
    r = engine.run(sync, conn, new, confirm=True)
    assert r.sent == 8 and r.destination_key == "loopback:account-b:list-9"
    assert set(new.members) == {f"p{i}" for i in range(8)}
    assert new.calls and all(rec.operation.value == "upsert" for c in new.calls for rec in c)
    # the old target's state is kept for audit, and nothing at the old target was removed
    held = dict(
        conn.execute(
            f"select destination_key, count(*) from {st.STATE} group by 1"
        ).fetchall()
    )
    assert held == {"loopback:account-a:list-1": 10, "loopback:account-b:list-9": 8}
    assert len(old.members) == 10 and len(old.calls) == 1


def test_state_from_before_destination_identity_is_adopted_not_resent(conn) -> None:
    """An upgrade keeps every row: the old tables gain columns, legacy rows count as held."""
    set_audience(conn, rows(5))
    sync = make_sync("mirror")
    conn.execute("create schema ferry_sync")
    conn.execute(
        "create table ferry_sync.sync_state (sync_name varchar not null, record_key varchar not null, "
        "payload_hash varchar not null, identifiers_json varchar, destination_id varchar, "
        "synced_at timestamp, run_id varchar)"
    )
    dest = Named()
    assert engine.run(sync, conn, dest).sent == 5
    conn.execute("update ferry_sync.sync_state set destination_key = null")  # as an old release left it
    p = engine.plan(sync, conn, destination=dest)
    assert p.counts["unchanged"] == 5 and p.work == 0
    assert engine.run(sync, conn, dest).sent == 0
    assert conn.execute(
        "select count(*) from ferry_sync.sync_state where destination_key = ?", [dest.identity]
    ).fetchone() == (5,)


# --------------------------------------------------------------------------- erasure


def _erase(conn, *profiles: str) -> None:
    conn.execute(
        "create table if not exists marts.erased_profiles (profile_id varchar, erased_at timestamp)"
    )
    for p in profiles:
        conn.execute("insert into marts.erased_profiles values (?, now())", [p])
        conn.execute("delete from audiences.aud_test where profile_id = ?", [p])


@pytest.mark.parametrize("mode", ["upsert", "mirror", "insert"])
def test_erasure_deletes_the_person_at_the_destination_whatever_the_mode(conn, mode) -> None:
    set_audience(conn, rows(6))
    sync = make_sync(mode)
    dest = LoopbackDestination()
    assert engine.run(sync, conn, dest).sent == 6
    _erase(conn, "p2", "p4")
    p = engine.plan(sync, conn)
    assert p.counts["erase"] == 2 and p.counts.get("remove", 0) == 0
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.sent == 2
    assert dest.erased == {"p2", "p4"} and "p2" not in dest.members
    deletes = [rec for call in dest.calls[1:] for rec in call]
    assert {rec.operation.value for rec in deletes} == {"delete"}
    assert all(set(rec.payload) <= {"email", "_destination_id"} for rec in deletes)  # no PII beyond ids
    assert engine.plan(sync, conn).counts["erase"] == 0  # confirmed: nothing left to erase
    assert conn.execute(
        f"select planned_erasures from {st.RUNS} where run_id = ?", [r.run_id]
    ).fetchone() == (2,)


def test_erasure_at_a_destination_that_cannot_delete_is_a_removal(conn) -> None:
    set_audience(conn, rows(3))
    caps = replace(LoopbackDestination().capabilities, modes=frozenset({"upsert", "mirror"}))
    dest = LoopbackDestination(capabilities=caps)
    sync = make_sync("mirror")
    engine.run(sync, conn, dest)
    _erase(conn, "p1")
    r = engine.run(sync, conn, dest)
    assert r.sent == 1 and set(dest.members) == {"p0", "p2"} and dest.erased == set()
    assert [rec.operation.value for rec in dest.calls[-1]] == ["remove"]


def test_an_erasure_is_not_held_back_by_the_mass_removal_stop(conn) -> None:
    set_audience(conn, rows(4))
    sync = make_sync("mirror", policies={"max_removal_share": 0.2})
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    _erase(conn, "p0", "p1")  # half of what the sync holds
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and dest.erased == {"p0", "p1"}


# --------------------------------------------------------------------------- identifier changes


def test_an_update_that_changes_the_email_names_the_old_one(conn) -> None:
    set_audience(conn, rows(3))
    sync = make_sync("mirror")
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    conn.execute("update audiences.aud_test set email = 'new1@x.com' where profile_id = 'p1'")
    engine.run(sync, conn, dest)
    [record] = dest.calls[-1]
    assert record.payload["email"] == "new1@x.com"
    assert record.payload["_replaced_identifiers"] == {"email": "u1@x.com"}
    # a later removal names the address the destination holds now
    set_audience(conn, rows(3)[:1] + rows(3)[2:])
    engine.run(sync, conn, dest, confirm=True)
    [removal] = dest.calls[-1]
    assert removal.operation.value == "remove" and removal.payload["email"] == "new1@x.com"


# --------------------------------------------------------------------------- payload faults


class Fragile(LoopbackDestination):
    """A connector whose payload code raises for one record (as SendGrid's helper did)."""

    def write(self, records: list[Record]) -> list[RecordResult]:
        if any(r.key == "p3" for r in records):
            raise KeyError("email")
        return super().write(records)


@pytest.mark.parametrize("mode", ["mirror", "send"])
def test_a_payload_fault_rejects_one_record_and_the_batch_goes_on(conn, mode) -> None:
    set_audience(conn, rows(8))
    sync = make_sync(mode, policies={"max_attempts": 2})
    caps = replace(LoopbackDestination().capabilities, request_per_send=True)
    dest = Fragile(capabilities=caps)
    r = engine.run(sync, conn, dest)
    assert r.sent == 7 and r.failed == 1 and r.status == "partial"
    assert "connector error: KeyError: 'email'" in r.error
    r = engine.run(sync, conn, dest)
    assert r.parked == 1 and r.status == "needs_attention"
    assert engine.run(sync, conn, dest).status == "success"  # parked: not retried, not blocking
    delivered = {k for _, k in dest.sends} if mode == "send" else set(dest.members)
    assert delivered == {f"p{i}" for i in range(8)} - {"p3"}


# --------------------------------------------------------------------------- statuses


def test_a_permanently_failing_destination_stops_within_one_budget(conn) -> None:
    set_audience(conn, rows(50))
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10)
    dest = LoopbackDestination(capabilities=caps, fault=lambda n, recs: "5xx")
    r = engine.run(make_sync("mirror"), conn, dest)
    assert r.status == "failed" and len(dest.calls) == 1
    assert "50 records left for the next run (40 of them not tried)" in r.error and r.pending == 10
    row = conn.execute(
        f"select status, error, pending from {st.RUNS} where run_id = ?", [r.run_id]
    ).fetchone()
    assert row[0] == "failed" and row[1] == r.error and row[2] == 10


def test_send_runs_record_in_doubt_counts_and_reasons(conn) -> None:
    set_audience(conn, rows(3))
    sync = make_sync("send")
    caps = replace(LoopbackDestination().capabilities, request_per_send=True)

    @dataclass
    class Lossy(LoopbackDestination):
        def write(self, records: list[Record]) -> list[RecordResult]:
            out = super().write(records)
            return [RecordResult(r.key, Outcome.IN_DOUBT, "read timeout") if r.key == "p1" else r for r in out]

    dest = Lossy(capabilities=caps)
    r = engine.run(sync, conn, dest)
    assert r.status == "needs_attention" and r.in_doubt == 1 and "1 sends in doubt (read timeout)" in r.error
    assert conn.execute(
        f"select in_doubt, pending from {st.RUNS} where run_id = ?", [r.run_id]
    ).fetchone() == (1, 0)
    r = engine.run(sync, conn, dest)  # the lookup finds it was delivered: settled, not resent
    assert r.status == "success" and r.reconciled == 1 and len(dest.sends) == 3



def test_unconfirmed_erasures_are_reported_until_the_destination_accepts(conn) -> None:
    from syncs.history import pending_erasures

    set_audience(conn, rows(3))
    sync = make_sync("upsert")
    dest = Named()
    engine.run(sync, conn, dest)
    _erase(conn, "p1")
    dest.reject_keys.add("p1")
    r = engine.run(sync, conn, dest)
    assert r.status == "partial" and r.failed == 1
    [row] = pending_erasures(conn)
    assert (row["sync"], row["destination"], row["pending"]) == (sync.name, dest.identity, 1)
    assert row["last_error"] == "invalid contact"
    dest.reject_keys.clear()
    assert engine.run(sync, conn, dest).status == "success"
    assert pending_erasures(conn) == [] and "p1" in dest.erased
