"""The same engine on PostgreSQL: plan SQL transpiled by sqlglot, state in ferry_sync, streaming cursor."""

from __future__ import annotations

import pytest

from syncs import engine
from tests.syncs.conftest import make_sync
from tests.syncs.loopback import LoopbackDestination, SimulatedKill

pytestmark = pytest.mark.postgres


def load(conn, rows):
    conn.execute("delete from audiences.aud_test")
    conn.execute("delete from marts.customer_consent")
    with conn.cursor() as cur:
        cur.executemany("insert into audiences.aud_test values (%s, %s, %s, %s, %s)", rows)
        cur.executemany(
            "insert into marts.customer_consent values (%s, 'email', true, 't', null)",
            [(r[0],) for r in rows],
        )


@pytest.fixture
def pg(pg_conn):
    pg_conn.execute("create schema audiences; create schema marts")
    pg_conn.execute(
        "create table audiences.aud_test (profile_id text, email text, first_name text, variant text, entered_at text)"
    )
    pg_conn.execute(
        "create table marts.customer_consent (profile_id text, channel text, is_consented boolean, consent_source text, consent_changed_at timestamp)"
    )
    pg_conn.execute(
        "create table marts.customer_suppressions (profile_id text, channel text, reason text, suppressed_at timestamp)"
    )
    pg_conn.execute(
        "create table marts.marketing_pressure (profile_id text, channel text, pressure double precision)"
    )
    return pg_conn


def rows(n, name="N", start=0):
    return [
        (f"p{i}", f"u{i}@x.com", name, "holdout" if i == 0 else "treatment", "2026-01")
        for i in range(start, n)
    ]


def test_mirror_on_postgres(pg):
    load(pg, rows(25))
    pg.execute(
        "insert into marts.customer_suppressions values ('p3', 'email', 'unsubscribe', null)"
    )
    sync = make_sync("mirror", policies={"pressure_cap": 5.0})
    p = engine.plan(sync, pg, sample_size=3)
    assert p.counts["add"] == 23 and p.suppressed == {"holdout": 1, "suppressed_unsubscribe": 1}
    assert (
        pg.execute(
            "select count(*) from information_schema.schemata where schema_name = 'ferry_sync'"
        ).fetchone()[0]
        == 0
    )
    dest = LoopbackDestination()
    r = engine.run(sync, pg, dest)
    assert r.status == "success" and r.sent == 23 and len(dest.calls) == 1
    load(pg, rows(20, name="M"))  # 5 leave, 19 change name
    dest.fault = lambda n, recs: "kill" if n == 2 else None
    with pytest.raises(SimulatedKill):
        engine.run(sync, pg, dest)
    dest.fault = None
    r = engine.run(sync, pg, dest)
    assert r.status == "success"
    assert set(dest.members) == {f"p{i}" for i in range(1, 20) if i != 3}
    assert {m["first_name"] for m in dest.members.values()} == {"M"}
    assert engine.plan(sync, pg, sample_size=0).work == 0


def test_send_on_postgres(pg):
    load(pg, rows(6))
    sync = make_sync("send")
    dest = LoopbackDestination(fault=lambda n, recs: "lost" if n == 1 else None)
    r = engine.run(sync, pg, dest)
    assert r.in_doubt == 5
    r = engine.run(sync, pg, dest)
    assert r.reconciled == 5 and r.sent == 0
    assert len(dest.sends) == 5


def test_send_erasure_on_postgres_scrubs_the_ledger_and_keeps_failed_deletes(pg):
    """syncs.erasure's SQL on PostgreSQL: a scrubbed row and one whose delete failed."""
    from connectors.base import Outcome, RecordResult
    from syncs.history import pending_erasures

    class Deleting(LoopbackDestination):
        def erase_messages(self, records):
            return [
                RecordResult(
                    r.key, Outcome.ACCEPTED if r.key == "p1" else Outcome.RETRYABLE, "busy"
                )
                for r in records
            ]

    load(pg, rows(4))
    sync, dest = make_sync("send", policies={"respect_holdout": False}), Deleting()
    assert engine.run(sync, pg, dest).sent == 4
    pg.execute("update ferry_sync.send_ledger set destination_id = 'm-' || record_key")
    pg.execute("create table marts.erased_profiles (profile_id text, erased_at timestamp)")
    pg.execute("insert into marts.erased_profiles values ('p1', now()), ('p2', now())")
    pg.execute("delete from audiences.aud_test where profile_id in ('p1', 'p2')")
    r = engine.run(sync, pg, dest)
    assert r.status == "partial" and r.planned["erase"] == 2, r.error
    assert (r.erased, r.erasures_left, r.pending, r.failed) == (1, 1, 0, 0)
    assert "1 erasures left for the next run (erasure: busy)" in r.error
    ledger = dict(
        pg.execute(
            "select record_key, coalesce(identifiers_json, '-') || '|' || error from ferry_sync.send_ledger "
            "where record_key in ('p1', 'p2')"
        ).fetchall()
    )
    assert ledger["p1"] == "-|erased" and ledger["p2"].endswith("|erasure: busy")
    [left] = pending_erasures(pg)
    assert left["pending"] == 1 and left["last_error"] == "erasure: busy"


def test_a_destination_key_with_percent_and_quote_plans_and_runs_on_postgres(pg):
    """The plan writes the sync and destination key into its SQL as literals; a webhook
    path with `%20` or a quote must neither break psycopg's placeholders nor the SQL."""

    class Keyed(LoopbackDestination):
        destination_identity = "webhook:https://hooks.example.com/a%20b/o'brien"

    load(pg, rows(10))
    sync, dest = make_sync("mirror"), Keyed()
    assert engine.plan(sync, pg, destination=dest).counts["add"] == 9
    r = engine.run(sync, pg, dest)
    assert r.status == "success" and r.sent == 9 and len(dest.members) == 9
    assert engine.plan(sync, pg, destination=dest).work == 0  # its state found again


def test_postgres_state_from_before_the_fingerprint_keeps_working(pg):
    """PostgreSQL has no payload fingerprint (NULL): the md5 decides, as before it existed,
    and a run's counts (from its one diff) are the dry run's."""
    load(pg, rows(12))
    sync = make_sync("mirror")
    dest = LoopbackDestination()
    assert engine.run(sync, pg, dest).sent == 11
    pg.execute("alter table ferry_sync.sync_state drop column payload_fp")  # an older release's
    assert engine.plan(sync, pg, sample_size=0).work == 0
    pg.execute("update audiences.aud_test set first_name = 'M' where profile_id = 'p4'")
    pg.execute("delete from audiences.aud_test where profile_id = 'p5'")
    dry = engine.plan(sync, pg, sample_size=0)
    assert (dry.counts["update"], dry.counts["remove"], dry.counts["unchanged"]) == (1, 1, 9)
    r = engine.run(sync, pg, dest)
    assert r.status == "success" and r.sent == 2
    assert r.planned == dry.counts
    assert pg.execute(
        "select count(*), count(payload_fp) from ferry_sync.sync_state"
    ).fetchone() == (10, 0)
    assert engine.plan(sync, pg, sample_size=0).work == 0
