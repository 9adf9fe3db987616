"""Policies before anything leaves: each suppressed record counted by reason; fail closed."""

from __future__ import annotations

import pytest

from syncs import engine
from syncs.policies import PolicyTableMissing
from tests.syncs.conftest import make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination

ROWS = [
    ("p1", "a@x.com", "A", "treatment"),
    ("p2", "b@x.com", "B", "holdout"),
    ("p3", "c@x.com", "C", "treatment"),
    ("p4", "d@x.com", "D", "treatment"),
    ("p5", "e@x.com", "E", "treatment"),
    ("p6", "f@x.com", "F", "treatment"),
    ("p7", "g@x.com", "G", "treatment"),
]


def _one_member_per_policy(conn):
    """ROWS with each policy applying to one member (p1 passes all) and a pressure cap of 5."""
    set_audience(conn, ROWS)
    conn.execute("update marts.customer_consent set is_consented = false where profile_id = 'p3'")
    conn.execute("delete from marts.customer_consent where profile_id = 'p7'")
    conn.execute(
        "insert into marts.customer_suppressions values "
        "('p4', 'email', 'unsubscribe', null), ('p5', 'sms', 'erasure', null), ('p1', 'sms', 'stop', null)"
    )
    conn.execute(
        "insert into marts.marketing_pressure values ('p6', 'email', 9.0), ('p1', 'email', 1.0)"
    )
    return make_sync("mirror", policies={"pressure_cap": 5.0})


def test_each_policy_suppresses_with_its_reason(conn):
    sync = _one_member_per_policy(conn)
    p = engine.plan(sync, conn, sample_size=0)
    assert p.suppressed == {
        "holdout": 1,
        "no_consent": 2,
        "suppressed_unsubscribe": 1,
        "suppressed_erasure": 1,
        "pressure_cap": 1,
    }
    assert p.counts["add"] == 1  # only p1: an SMS STOP does not suppress email
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    assert set(dest.members) == {"p1"}
    assert dest.ever_received == {"p1"}


def test_newly_suppressed_member_is_removed_in_mirror(conn):
    set_audience(conn, ROWS[:1])
    sync = make_sync("mirror")
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    conn.execute("insert into marts.customer_suppressions values ('p1', null, 'bounce', null)")
    p = engine.plan(sync, conn, sample_size=0)
    assert p.counts["remove"] == 1 and p.suppressed == {"suppressed_bounce": 1}
    engine.run(sync, conn, dest)
    assert dest.members == {}


def test_test_mode_only_lets_seeds_out(conn):
    set_audience(conn, ROWS)
    sync = make_sync("upsert", policies={"test_mode": True, "test_seeds": ["p3", "p4"]})
    p = engine.plan(sync, conn, sample_size=0)
    assert p.counts["add"] == 2
    assert p.suppressed["test_mode"] == 4  # p2 counted as holdout first
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    assert set(dest.members) == {"p3", "p4"}


@pytest.mark.parametrize("table", ["customer_consent", "customer_suppressions"])
def test_missing_policy_table_fails_closed(conn, table):
    set_audience(conn, ROWS)
    conn.execute(f"drop table marts.{table}")
    sync = make_sync("mirror")
    with pytest.raises(PolicyTableMissing, match=table):
        engine.plan(sync, conn)
    dest = LoopbackDestination()
    result = engine.run(sync, conn, dest)
    assert result.status == "failed" and table in result.error
    assert dest.calls == []


def test_channel_none_needs_no_consent_but_still_honours_erasure(conn):
    set_audience(conn, ROWS[:3], consent_all=False)
    conn.execute("drop table marts.customer_consent")
    conn.execute(
        "insert into marts.customer_suppressions values ('p1', 'email', 'erasure', null), ('p3', 'email', 'unsubscribe', null)"
    )
    sync = make_sync("upsert", channel="none", policies={"respect_holdout": False})
    dest = LoopbackDestination()
    engine.run(sync, conn, dest)
    assert set(dest.members) == {"p2", "p3"}


def test_pressure_cap_without_table_fails_closed(conn):
    set_audience(conn, ROWS)
    conn.execute("drop table marts.marketing_pressure")
    with pytest.raises(PolicyTableMissing, match="marketing_pressure"):
        engine.plan(make_sync("mirror", policies={"pressure_cap": 3}), conn)
    engine.plan(make_sync("mirror"), conn)  # no cap, no need for the table


def test_plan_of_a_few_keys_judges_them_as_the_full_plan_does(conn):
    """A dry run's sample plans only its keys, and its policy CTEs read only their
    profiles' rows (build_policy_sql(profiles=...)): every verdict must be the full plan's."""
    from syncs.plan_sql import build_plan_sql
    from syncs.warehouse import Warehouse

    sync = _one_member_per_policy(conn)
    wh = Warehouse(conn)

    def verdicts(only_keys):
        sql = build_plan_sql(sync, wh, False, only_keys=only_keys, destination_key="loopback:loop")
        rows = wh.fetchall(f"{sql.base} select __key, __op, __reason from planned", sql.params)
        return sorted(rows)

    full = verdicts(None)
    assert len({r[2] for r in full}) == 6  # None and the five reasons: each policy exercised
    for keys in [("p1", "p3", "p7"), ("p4", "p5", "p6"), ("p2",)]:
        assert verdicts(keys) == [r for r in full if r[0] in keys]


def test_consent_membership_tests_judge_as_the_aggregate_does(conn, monkeypatch):
    """DuckDB judges consent by two membership tests, other warehouses by a per-profile
    bool_and joined on (syncs.policies._consent_check): both forms, run on DuckDB, give
    every member the same verdict, whatever the consent rows say."""
    from syncs import policies
    from syncs.plan_sql import build_plan_sql
    from syncs.warehouse import Warehouse

    sync = _one_member_per_policy(conn)
    conn.execute(
        "insert into marts.customer_consent values "
        "('p6', 'email', false, 't', null), "  # a yes and a no: no
        "('p1', 'EMAIL', true, 't', null), "  # two yeses, one spelled in capitals: yes
        "('p2', 'email', null, 't', null), "  # a null among yeses: no (fail closed)
        "('p7', 'sms', true, 't', null), "  # only another channel's yes: no
        "(null, 'email', true, 't', null)"  # a row without a profile: nobody's
    )
    conn.execute("insert into audiences.aud_test values ('p8', 'h@x.com', 'H', 'treatment', null)")
    wh = Warehouse(conn)

    def verdicts():
        sql = build_plan_sql(sync, wh, False, destination_key="loopback:loop")
        return sorted(wh.fetchall(f"{sql.base} select __key, __reason from planned", sql.params))

    membership = verdicts()
    monkeypatch.setattr(policies, "MEMBERSHIP_TESTS", ())
    aggregate = verdicts()
    assert membership == aggregate
    assert dict(membership) == {
        "p1": None,
        "p2": "holdout",
        "p3": "no_consent",
        "p4": "suppressed_unsubscribe",
        "p5": "suppressed_erasure",
        "p6": "no_consent",
        "p7": "no_consent",
        "p8": "no_consent",
    }
