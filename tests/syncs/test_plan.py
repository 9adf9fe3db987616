"""The plan query on DuckDB, per mode, and the dry run's promise: nothing sent, nothing written."""

from __future__ import annotations

import sqlglot

from syncs import engine
from syncs.config import FieldMapping
from syncs.plan_sql import build_plan_sql
from syncs.warehouse import Warehouse
from tests.syncs.conftest import make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination

# The identity the loopback destination is known by (it declares none: type and name).
DKEY = "loopback:loop"

ROWS = [
    ("p1", "a@x.com", "Ann", "treatment"),
    ("p2", "b@x.com", "Bob", "treatment"),
    ("p3", "c@x.com", "Cy", "treatment"),
]


def counts(sync, conn):
    p = engine.plan(sync, conn, sample_size=0)
    return {k: v for k, v in p.counts.items() if v}


def test_mirror_plans_adds_updates_removes_and_unchanged(conn):
    sync = make_sync("mirror")
    set_audience(conn, ROWS)
    assert counts(sync, conn) == {"add": 3}
    dest = LoopbackDestination()
    assert engine.run(sync, conn, dest).status == "success"
    assert counts(sync, conn) == {"unchanged": 3}
    # p1 changes name, p2 leaves, p4 joins
    set_audience(
        conn,
        [("p1", "a@x.com", "Anna", "treatment"), ROWS[2], ("p4", "d@x.com", "Di", "treatment")],
    )
    assert counts(sync, conn) == {"add": 1, "update": 1, "remove": 1, "unchanged": 1}
    engine.run(sync, conn, dest)
    assert set(dest.members) == {"p1", "p3", "p4"}
    assert dest.members["p1"]["first_name"] == "Anna"


def test_upsert_never_removes(conn):
    sync = make_sync("upsert")
    set_audience(conn, ROWS)
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(conn, [("p1", "a@x.com", "Anna", "treatment")])
    assert counts(sync, conn) == {"update": 1}
    engine.run(sync, conn, dest)
    assert set(dest.members) == {"p1", "p2", "p3"}


def test_insert_adds_new_members_only(conn):
    sync = make_sync("insert")
    set_audience(conn, ROWS[:2])
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(conn, [("p1", "a@x.com", "Changed", "treatment"), ROWS[2]])
    assert counts(sync, conn) == {"add": 1, "unchanged": 1}
    engine.run(sync, conn, dest)
    assert dest.members["p1"]["first_name"] == "Ann"
    assert set(dest.members) == {"p1", "p2", "p3"}


def test_delete_mode_erases_once_and_ignores_marketing_policies(conn):
    sync = make_sync("delete", channel="none", fields={})
    set_audience(conn, ROWS[:2], consent_all=False)
    conn.execute(
        "insert into marts.customer_suppressions values ('p1', 'email', 'unsubscribe', null)"
    )
    dest = LoopbackDestination(members={"p1": {"email": "a@x.com"}, "p2": {}, "p9": {}})
    assert counts(sync, conn) == {"delete": 2}
    engine.run(sync, conn, dest)
    assert dest.erased == {"p1", "p2"}
    assert set(dest.members) == {"p9"}
    assert counts(sync, conn) == {"unchanged": 2}
    # the erasure record carries identifiers only
    assert all(set(r.payload) <= {"email"} for call in dest.calls for r in call)


def test_send_mode_one_message_per_occurrence(conn):
    sync = make_sync("send")
    set_audience(
        conn,
        [
            ("p1", "a@x.com", "Ann", "treatment", "2026-01-01"),
            ("p2", "b@x.com", "Bob", "treatment", "2026-01-01"),
        ],
    )
    assert counts(sync, conn) == {"send": 2}
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    assert counts(sync, conn) == {"unchanged": 2}
    # p1 re-enters (new occurrence): one more message; p2 unchanged
    set_audience(
        conn,
        [
            ("p1", "a@x.com", "Ann", "treatment", "2026-02-01"),
            ("p2", "b@x.com", "Bob", "treatment", "2026-01-01"),
        ],
    )
    assert counts(sync, conn) == {"send": 1, "unchanged": 1}
    engine.run(sync, conn, dest)
    assert len(dest.sends) == 3
    assert len({k for k, _ in dest.sends}) == 3


def test_null_does_not_blank_unless_mapping_says_so(conn):
    sync = make_sync("upsert", fields={"first_name": FieldMapping(column="first_name")})
    set_audience(conn, [("p1", "a@x.com", "Ann", "treatment")])
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(conn, [("p1", "a@x.com", None, "treatment")])
    assert counts(sync, conn) == {"update": 1}
    engine.run(sync, conn, dest)
    assert dest.members["p1"]["first_name"] == "Ann"
    assert "first_name" not in dest.calls[-1][0].payload

    clearing = make_sync(
        "upsert",
        name="clearing",
        fields={"first_name": FieldMapping(column="first_name", on_null="clear")},
    )
    dest2 = LoopbackDestination(members={"p1": {"first_name": "Old"}})
    engine.run(clearing, conn, dest2)
    assert dest2.members["p1"]["first_name"] is None


def test_dry_run_sends_nothing_and_writes_nothing(conn):
    sync = make_sync("mirror")
    set_audience(conn, ROWS)
    tables_before = conn.execute("select count(*) from information_schema.tables").fetchone()[0]
    p = engine.plan(sync, conn, dry_run=True, sample_size=2)
    assert p.counts["add"] == 3
    assert len(p.sample) == 2
    # PII masked in the sample, key visible
    assert p.sample[0]["key"] == "p1"
    assert p.sample[0]["payload"]["email"] != "a@x.com" and "@" in p.sample[0]["payload"]["email"]
    assert (
        conn.execute("select count(*) from information_schema.tables").fetchone()[0]
        == tables_before
    )
    assert (
        conn.execute(
            "select count(*) from information_schema.schemata where schema_name = 'ferry_sync'"
        ).fetchone()[0]
        == 0
    )
    # after a real run, a dry run leaves runs/results/state untouched
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(conn, [ROWS[0]])
    snapshot = [
        conn.execute(f"select count(*) from ferry_sync.{t}").fetchone()[0]
        for t in ("runs", "record_results", "sync_state")
    ]
    calls = len(dest.calls)
    p = engine.plan(sync, conn)
    assert p.counts["remove"] == 2
    assert [
        conn.execute(f"select count(*) from ferry_sync.{t}").fetchone()[0]
        for t in ("runs", "record_results", "sync_state")
    ] == snapshot
    assert len(dest.calls) == calls


def test_plan_sql_transpiles_to_postgres(conn):
    sync = make_sync("mirror")
    set_audience(conn, ROWS)
    sql, _ = build_plan_sql(sync, Warehouse(conn), state_ready=True, destination_key=DKEY).changes()
    pg = sqlglot.transpile(sql, read="duckdb", write="postgres")[0]
    assert "MD5(CONCAT_WS(CHR(31)" in pg
    # Whose state: literals (the plan reads state in two places, each standing alone).
    assert f"sync_name = '{sync.name}'" in pg and "%s" not in pg
    assert "customer_consent" in pg


def test_plan_streams_only_changed_rows(conn):
    sync = make_sync("mirror")
    conn.execute(
        "insert into audiences.aud_test select 'p' || i, 'u' || i || '@x.com', 'n' || i, 'treatment', null "
        "from range(5000) t(i)"
    )
    conn.execute(
        "insert into marts.customer_consent select profile_id, 'email', true, 't', null from audiences.aud_test"
    )
    engine.run(sync, conn, LoopbackDestination(capabilities=LoopbackDestination().capabilities))
    conn.execute(
        "update audiences.aud_test set first_name = 'changed' where profile_id in ('p1', 'p2', 'p3')"
    )
    wh = Warehouse(conn)
    sql, params = build_plan_sql(sync, wh, state_ready=True, destination_key=DKEY).changes()
    rows = sum(b.num_rows for b in wh.stream(sql, params, batch_rows=100))
    assert rows == 3


def test_dry_run_sample_plans_only_its_keys_and_matches_the_full_plan(conn):
    """The sample's keys come with the counts; planning just those gives the full plan's rows."""
    sync = make_sync("mirror")
    people = [
        (f"p{i:02d}", f"u{i}@x.com", f"n{i}", "holdout" if i % 7 == 0 else "treatment")
        for i in range(40)
    ]
    set_audience(conn, people)
    engine.run(sync, conn, LoopbackDestination())
    changed = [
        (k, e, n + "!" if i % 3 == 0 else n, v) for i, (k, e, n, v) in enumerate(people) if i % 5
    ]
    set_audience(conn, changed + [("q1", "q1@x.com", "new", "treatment")])
    conn.execute(
        "insert into marts.customer_suppressions values ('p01', 'email', 'unsubscribe', null)"
    )
    wh = Warehouse(conn)
    sql, params = build_plan_sql(sync, wh, state_ready=True, destination_key=DKEY).sample(8)
    full = [(b["__key"], b["__op"]) for batch in wh.stream(sql, params) for b in batch.to_pylist()]
    p = engine.plan(sync, conn, sample_size=8)
    assert [(s["key"], {"upsert": None, "remove": "remove"}[s["operation"]]) for s in p.sample] == [
        (k, "remove" if op == "remove" else None) for k, op in full
    ]
    assert {op for _, op in full} == {"update", "remove"} and len(full) == 8


def test_a_held_key_listed_twice_changed_and_held_back_is_a_duplicate(conn):
    """The diff reads the audience once (one full join with state): a held key listed twice,
    once changed and once held back, is planned as an update and a removal. The plan counts
    the key as a duplicate across operations and the run stops before sending."""
    sync = make_sync("mirror")
    set_audience(conn, ROWS)
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    set_audience(
        conn,
        [*ROWS[::2], ("p2", "b@x.com", "Bobby", "treatment"), ("p2", "b@x.com", "Bob", "holdout")],
    )
    p = engine.plan(sync, conn, sample_size=0)
    assert p.counts["remove"] == 1 and p.counts["update"] == 1 and p.suppressed == {"holdout": 1}
    assert p.duplicate_keys == 1
    calls = len(dest.calls)
    r = engine.run(sync, conn, dest)
    assert r.status == "failed" and "duplicate" in r.error
    assert len(dest.calls) == calls and dest.members["p2"]["first_name"] == "Bob"


def test_each_operation_comes_from_one_read_of_audience_and_state(conn):
    """Every branch of the diff at once (add, update, unchanged, remove of a leaver, remove of
    a newly suppressed member, erase of a held erased person, suppressed), with the columns a
    run needs: what state holds for held rows, the current identifiers for the others."""
    sync = make_sync("mirror")
    set_audience(
        conn, [*ROWS, ("p5", "e@x.com", "Ed", "treatment"), ("p6", "f@x.com", "Fi", "treatment")]
    )
    engine.run(sync, conn, LoopbackDestination())
    set_audience(
        conn,
        [
            ("p1", "a@x.com", "Anna", "treatment"),  # update
            ROWS[1],  # unchanged
            ("p3", "c@x.com", "Cy", "holdout"),  # held, now held back: remove (and suppressed)
            ("p4", "d@x.com", "Di", "treatment"),  # add
            ("p6", "f@x.com", "Fi", "treatment"),  # held, erased: erase (and suppressed)
            ("p7", "g@x.com", "Gus", "holdout"),  # never held: suppressed only
        ],  # p5 left: remove
    )
    conn.execute("create table marts.erased_profiles (profile_id varchar, erased_at timestamp)")
    conn.execute("insert into marts.erased_profiles values ('p6', now())")
    wh = Warehouse(conn)
    plan_sql = build_plan_sql(sync, wh, state_ready=True, destination_key=DKEY)
    sql, params = plan_sql.counts()
    totals = wh.fetchall(sql, params)
    assert {r[:2]: r[2:] for r in totals if r[0] is not None} == dict(
        (r[:2], r[2:])
        for r in [
            ("add", None, 1, 1),
            ("update", None, 1, 1),
            ("unchanged", None, 1, 0),
            ("remove", None, 1, 1),  # p5, who left
            ("remove", "holdout", 1, 1),  # p3, held back: removed and counted as suppressed
            ("erase", "suppressed_erasure", 1, 1),
            ("suppressed", "holdout", 1, 0),  # p7
        ]
    )
    assert [r for r in totals if r[0] is None] == [(None, None, None, 5)]
    p = engine.plan(sync, conn, sample_size=0)
    assert p.suppressed == {"holdout": 2, "suppressed_erasure": 1}
    assert (p.audience_size, p.eligible, p.counts["suppressed"]) == (6, 3, 3)
    sql, params = plan_sql.changes()
    rows = {r["__key"]: r for r in wh.fetch_arrow(sql, params).to_pylist()}
    assert {k: r["__op"] for k, r in rows.items()} == {
        "p1": "update",
        "p3": "remove",
        "p4": "add",
        "p5": "remove",
        "p6": "erase",
    }
    assert rows["p5"]["__ids"] == rows["p5"]["__state_ids"] == '{"email":"e@x.com"}'
    assert rows["p6"]["__ids"] == '{"email":"f@x.com"}' and rows["p6"]["__state_hash"]
    assert rows["p1"]["__ids"] == '{"email":"a@x.com"}' and rows["p1"]["__state_hash"]
    assert rows["p4"]["__state_hash"] is None and rows["p4"]["__state_ids"] is None
    assert rows["p4"]["__ids"] == '{"email":"d@x.com"}'
