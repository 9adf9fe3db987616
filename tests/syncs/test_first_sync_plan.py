"""A first sync's plan (nothing held at the destination) skips the diff's middle table
(syncs.plan_table.holds_nothing): its plan table and counts must be the ones the
general path gives, row for row, and the shortcut must never apply to a sync that holds
anything there."""

from __future__ import annotations

from typing import Any

import pytest

from syncs import engine
from syncs import state as st
from syncs.plan import destination_key
from syncs.plan_table import diffed, holds_nothing
from syncs.warehouse import Warehouse
from tests.syncs.conftest import make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination

# holdout, no consent, suppressed for the channel, erased, a NULL field, eligible ones.
AUDIENCE = [
    ("p0", "a0@x.com", "Ann", "holdout"),
    ("p1", "a1@x.com", "Bob", "treatment"),
    ("p2", "a2@x.com", None, "treatment"),
    ("p3", "a3@x.com", "Cy", "treatment"),
    ("p4", "a4@x.com", "Di", "treatment"),
    ("p5", "a5@x.com", "Ed", "treatment"),
    ("p6", "a6@x.com", "Flo", None),
]


def _warehouse(conn: Any) -> None:
    set_audience(conn, AUDIENCE)
    conn.execute("update marts.customer_consent set is_consented = false where profile_id = 'p3'")
    conn.execute("insert into marts.customer_suppressions values ('p4', 'email', 'bounce', null)")
    conn.execute("create table marts.erased_profiles (profile_id varchar, erased_at timestamp)")
    conn.execute("insert into marts.erased_profiles values ('p5', now())")


def _diff(conn: Any, sync: Any, first_sync: bool) -> tuple[dict[str, Any], list[dict], bool]:
    """The run's plan (counts) and its plan table's rows, by either path."""
    wh = Warehouse(conn)
    st.ensure_state(wh)
    dkey = destination_key(sync, LoopbackDestination())
    with diffed(sync, wh, "run0123456789", dkey, None, first_sync=first_sync) as diff:
        took_shortcut = diff.grouped is None
        table = diff.changes()
        p = diff.plan
        plan = {
            k: getattr(p, k)
            for k in ("counts", "suppressed", "audience_size", "eligible", "held", "duplicate_keys")
        }
        got = wh.fetch_arrow(f"select * from {table.name} order by __key").to_pylist()
    # The numbering (PostgreSQL's __seq) is each table's own; every other column must agree.
    return plan, [{k: v for k, v in r.items() if k != "__seq"} for r in got], took_shortcut


@pytest.mark.parametrize("mode", ["mirror", "upsert", "insert", "delete"])
def test_a_first_sync_plans_row_for_row_as_the_general_diff(conn, mode) -> None:
    _warehouse(conn)
    sync = make_sync(mode)
    plan, table, shortcut = _diff(conn, sync, first_sync=True)
    assert shortcut
    old_plan, old_table, old_shortcut = _diff(conn, sync, first_sync=False)
    assert not old_shortcut
    assert plan == old_plan
    assert table == old_table
    assert len(table) == plan["counts"]["delete" if mode == "delete" else "add"] > 0
    if mode != "delete":
        assert plan["suppressed"] == {
            "holdout": 1,
            "no_consent": 1,
            "suppressed_bounce": 1,
            "suppressed_erasure": 1,
        }


def test_a_first_sync_with_a_duplicate_key_still_stops(conn) -> None:
    set_audience(conn, [("p1", "a@x.com", "A", "treatment"), ("p1", "b@x.com", "B", "treatment")])
    dest = LoopbackDestination()
    r = engine.run(make_sync("mirror"), conn, dest)
    assert r.status == "failed" and "duplicate" in (r.error or "")
    assert dest.calls == []
    plan, _, _ = _diff(conn, make_sync("mirror"), first_sync=True)
    assert plan["duplicate_keys"] == 1 == _diff(conn, make_sync("mirror"), False)[0]["duplicate_keys"]


def test_only_a_sync_that_holds_nothing_at_the_destination_takes_the_shortcut(conn) -> None:
    _warehouse(conn)
    sync = make_sync("mirror")
    wh = Warehouse(conn)
    st.ensure_state(wh)
    dkey = destination_key(sync, LoopbackDestination())
    assert holds_nothing(wh, sync, dkey, ())
    assert not holds_nothing(wh, sync, dkey, ("ferry_sync.pending_x",))  # a killed run's adds
    assert not holds_nothing(wh, make_sync("send"), dkey, ())  # the ledger decides
    cols = "sync_name, record_key, payload_hash, identifiers_json, synced_at, run_id, destination_key"
    wh.execute(
        f"insert into {st.STATE} ({cols}) values (?, 'p9', 'h', '{{}}', now(), 'r', ?)",
        (sync.name, "elsewhere"),
    )
    assert holds_nothing(wh, sync, dkey, ())  # held at another destination: a first sync here
    wh.execute(f"update {st.STATE} set destination_key = null")  # from before identities
    assert not holds_nothing(wh, sync, dkey, ())
    wh.execute(f"delete from {st.STATE}")
    wh.execute(
        f"insert into {st.STATUS} (sync_name, record_key, operation, payload_hash, attempts, "
        "parked, destination_key) values (?, 'p1', 'add', 'h', 5, true, ?)",
        (sync.name, dkey),
    )
    assert not holds_nothing(wh, sync, dkey, ())  # a parked add: the general diff


def test_a_first_run_then_a_second_sends_each_record_once(conn) -> None:
    _warehouse(conn)
    dest = LoopbackDestination()
    first = engine.run(make_sync("mirror"), conn, dest)
    assert first.status == "success" and first.sent == 3  # p1, p2, p6 (no variant: not held out)
    assert first.planned["add"] == 3 and first.suppressed["holdout"] == 1
    again = engine.run(make_sync("mirror"), conn, dest)
    assert again.status == "success" and again.sent == 0 and again.planned["unchanged"] == 3


@pytest.mark.postgres
def test_a_first_sync_on_postgres_plans_row_for_row_as_the_general_diff(pg_conn) -> None:
    pg_conn.execute("create schema audiences; create schema marts")
    pg_conn.execute(
        "create table audiences.aud_test (profile_id text, email text, first_name text, "
        "variant text, entered_at text)"
    )
    pg_conn.execute(
        "create table marts.customer_consent (profile_id text, channel text, is_consented boolean, "
        "consent_source text, consent_changed_at timestamp)"
    )
    pg_conn.execute(
        "create table marts.customer_suppressions (profile_id text, channel text, reason text, "
        "suppressed_at timestamp)"
    )
    pg_conn.execute("create table marts.erased_profiles (profile_id text, erased_at timestamp)")
    with pg_conn.cursor() as cur:
        cur.executemany("insert into audiences.aud_test values (%s, %s, %s, %s, null)", AUDIENCE)
        cur.executemany(
            "insert into marts.customer_consent values (%s, 'email', %s, 't', null)",
            [(r[0], r[0] != "p3") for r in AUDIENCE],
        )
    pg_conn.execute("insert into marts.customer_suppressions values ('p4', 'email', 'bounce', null)")
    pg_conn.execute("insert into marts.erased_profiles values ('p5', now())")
    sync = make_sync("mirror")
    plan, table, shortcut = _diff(pg_conn, sync, first_sync=True)
    assert shortcut and len(table) == plan["counts"]["add"] == 3
    assert (plan, table) == _diff(pg_conn, sync, first_sync=False)[:2]


@pytest.mark.postgres
def test_a_first_syncs_counts_see_the_plan_tables_snapshot_on_postgres(
    pg_conn, pg_server, monkeypatch
) -> None:
    """Another session commits between the plan table and its counts: PostgreSQL's READ
    COMMITTED gave the counts a later snapshot (100 adds, 45 more refused consent: an
    audience of 145 out of 100 members); the transaction is one snapshot now."""
    import psycopg

    from syncs import plan_table

    pg_conn.execute("create schema audiences; create schema marts")
    pg_conn.execute(
        "create table audiences.aud_test (profile_id text, email text, first_name text, "
        "variant text, entered_at text)"
    )
    pg_conn.execute(
        "insert into audiences.aud_test select 'p' || i, 'e' || i || '@x.com', 'N' || i, "
        "'treatment', null from generate_series(0, 99) i"
    )
    pg_conn.execute(
        "create table marts.customer_consent (profile_id text, channel text, is_consented boolean, "
        "consent_source text, consent_changed_at timestamp)"
    )
    pg_conn.execute(
        "insert into marts.customer_consent select profile_id, 'email', true, 't', null "
        "from audiences.aud_test"
    )
    pg_conn.execute(
        "create table marts.customer_suppressions (profile_id text, channel text, reason text, "
        "suppressed_at timestamp)"
    )
    dbname = pg_conn.info.dbname
    other = psycopg.connect(**{**pg_server, "dbname": dbname}, autocommit=True)
    create = plan_table._create_plan_table

    def then_another_session_commits(*args: Any, **kwargs: Any) -> None:
        create(*args, **kwargs)
        other.execute("update marts.customer_consent set is_consented = false where profile_id < 'p5'")

    monkeypatch.setattr(plan_table, "_create_plan_table", then_another_session_commits)
    plan, table, shortcut = _diff(pg_conn, make_sync("mirror"), first_sync=True)
    other.close()
    assert shortcut and len(table) == plan["counts"]["add"] == 100
    assert plan["audience_size"] == 100 and not plan["suppressed"]
