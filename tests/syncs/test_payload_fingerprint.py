"""The plan's payload fingerprint (sync_state.payload_fp) and a run's single diff.

The md5 in `payload_hash` stays the authority on "changed"; `payload_fp` only lets the
plan skip it. So state written before the column existed, or fingerprints another DuckDB
would compute differently, must never re-send an unchanged member, and a run refreshes
them. A run counts from its materialized diff instead of diffing a second time.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from syncs import engine
from syncs import state as st
from syncs.plan import destination_key
from syncs.plan_sql import PENDING_REMOVE, PlanSql
from syncs.warehouse import Warehouse
from tests.syncs.conftest import make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination


def members(n: int, name: str = "N") -> list[tuple]:
    return [(f"p{i}", f"u{i}@x.com", name, "holdout" if i == 0 else "treatment") for i in range(n)]


def canonical_md5(*values: str | None) -> str:
    """The payload hash every release has written: md5 of the mapped values in field-name
    order, NULL as \\N, joined by the unit separator (here: email, first_name)."""
    text = "\x1f".join("\\N" if v is None else v for v in values)
    return hashlib.md5(text.encode()).hexdigest()


def old_release_state(conn, sync, dest, rows: list[tuple]) -> None:
    """ferry_sync as a release before payload_fp left it: sync_state without the column,
    a row per eligible member holding the md5 that release wrote."""
    wh = Warehouse(conn)
    st.ensure_state(wh)
    conn.execute(f"alter table {st.STATE} drop column payload_fp")
    dkey = destination_key(sync, dest)
    for key, email, name, variant in rows:
        if variant == "holdout":
            continue
        conn.execute(
            f"insert into {st.STATE} (sync_name, record_key, payload_hash, identifiers_json, "
            "synced_at, run_id, destination_key, profile_id) values (?, ?, ?, ?, now(), 'old', ?, ?)",
            [
                sync.name,
                key,
                canonical_md5(email, name),
                json.dumps({"email": email}),
                dkey,
                key,
            ],
        )
        dest.members[key] = {"email": email, "first_name": name}


def test_state_from_before_the_fingerprint_resends_no_unchanged_member(conn) -> None:
    rows = members(30)
    set_audience(conn, rows)
    sync, dest = make_sync("mirror"), LoopbackDestination()
    old_release_state(conn, sync, dest, rows)

    p = engine.plan(sync, conn, destination=dest)  # a dry run adds no column
    assert p.work == 0 and p.counts["unchanged"] == 29
    conn.execute("update audiences.aud_test set first_name = 'M' where profile_id = 'p5'")
    assert engine.plan(sync, conn, destination=dest).counts["update"] == 1

    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.sent == 1
    assert [[x.key for x in call] for call in dest.calls] == [["p5"]]
    # The format every release writes, so old and new state compare (and PostgreSQL's too).
    assert conn.execute(
        f"select payload_hash from {st.STATE} where record_key = 'p5'"
    ).fetchone() == (canonical_md5("u5@x.com", "M"),)
    # The run refreshed the fingerprints the old release could not write: all 29 held.
    assert conn.execute(f"select count(payload_fp) from {st.STATE}").fetchone() == (29,)
    assert engine.plan(sync, conn, destination=dest).work == 0


def test_a_fingerprint_another_duckdb_computed_defers_to_the_md5(conn) -> None:
    set_audience(conn, members(20))
    sync, dest = make_sync("mirror"), LoopbackDestination()
    assert engine.run(sync, conn, dest).sent == 19
    fresh = conn.execute(f"select record_key, payload_fp from {st.STATE}").fetchall()
    assert all(fp is not None for _, fp in fresh)
    # As if DuckDB's hash() changed between versions: no stored fingerprint matches.
    conn.execute(f"update {st.STATE} set payload_fp = 42")

    assert engine.plan(sync, conn, destination=dest).work == 0
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.sent == 0
    assert sorted(conn.execute(f"select record_key, payload_fp from {st.STATE}").fetchall()) == (
        sorted(fresh)
    )


def test_a_removal_marked_over_a_vouching_fingerprint_is_replanned(conn) -> None:
    """A killed run's PENDING_REMOVE replaces the hash but not payload_fp: the member, still
    listed, must be re-added, not taken as unchanged on its fingerprint."""
    set_audience(conn, members(10))
    sync, dest = make_sync("mirror"), LoopbackDestination()
    assert engine.run(sync, conn, dest).sent == 9
    conn.execute(
        f"update {st.STATE} set payload_hash = ? where record_key = 'p4'", [PENDING_REMOVE]
    )
    p = engine.plan(sync, conn, destination=dest)
    assert p.counts["update"] == 1 and p.work == 1
    dest.calls.clear()
    assert engine.run(sync, conn, dest).sent == 1
    assert [[x.key for x in call] for call in dest.calls] == [["p4"]]


def test_a_changed_field_is_sent_though_the_old_value_is_held(conn) -> None:
    set_audience(conn, members(6))
    sync, dest = make_sync("upsert"), LoopbackDestination()
    assert engine.run(sync, conn, dest).sent == 5
    conn.execute("update audiences.aud_test set first_name = null where profile_id = 'p2'")
    conn.execute("update audiences.aud_test set email = 'new@x.com' where profile_id = 'p3'")
    p = engine.plan(sync, conn, destination=dest)
    assert p.counts["update"] == 2 and p.counts["unchanged"] == 3
    assert engine.run(sync, conn, dest).sent == 2
    assert engine.plan(sync, conn, destination=dest).work == 0


def test_a_run_counts_from_its_one_diff(conn, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run never evaluates the dry run's counting query: its counts, the same as the dry
    run's, come from the diff it then sends from."""
    rows = members(40)
    set_audience(conn, rows)
    sync, dest = make_sync("mirror"), LoopbackDestination()
    assert engine.run(sync, conn, dest).sent == 39
    # 3 leave, 2 change, 1 unsubscribes, 2 withdraw consent, 2 join.
    set_audience(conn, [*rows[:37], *members(42)[40:]])
    conn.execute("update audiences.aud_test set first_name = 'M' where profile_id in ('p7', 'p8')")
    conn.execute(
        "insert into marts.customer_suppressions values ('p9', 'email', 'unsubscribe', null)"
    )
    conn.execute(
        "update marts.customer_consent set is_consented = false where profile_id in ('p10', 'p11')"
    )
    dry = engine.plan(sync, conn, destination=dest, sample_size=0)
    assert (dry.counts["add"], dry.counts["update"], dry.counts["remove"]) == (2, 2, 6)

    def no_second_diff(self: PlanSql, sample_keys: int = 0) -> tuple[str, list[str]]:
        raise AssertionError("a run evaluated the counting query")

    monkeypatch.setattr(PlanSql, "counts", no_second_diff)
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.sent == 10
    assert {k: v for k, v in r.planned.items() if v} == {k: v for k, v in dry.counts.items() if v}
    assert r.suppressed == dry.suppressed
    assert dry.suppressed == {"holdout": 1, "suppressed_unsubscribe": 1, "no_consent": 2}

    for email in ("a@x.com", "b@x.com"):  # a new key, listed twice: two adds
        conn.execute(
            "insert into audiences.aud_test values ('p90', ?, 'D', 'treatment', null)", [email]
        )
    conn.execute("insert into marts.customer_consent values ('p90', 'email', true, 't', null)")
    r = engine.run(sync, conn, dest)
    assert r.status == "failed" and "1 duplicate profile_id" in r.error
