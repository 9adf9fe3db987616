"""Property-based: random audience histories under random destination failures.

Hypothesis draws a sequence of audience states (membership, field values,
holdout variants, suppressions, consent) and, for every run, a schedule of
destination faults: per-record rejections, 429s, 5xx, timeouts (all surfacing
from the HTTP layer as RetryableError), lost answers after the request was
applied, auth failures, and kills between the destination accepting a batch
and the engine committing it. After the faults stop and a final run:

- mirror: the destination holds exactly the eligible audience, with its values;
- no suppressed, held-out or unconsented record ever reached the destination
  (checked at every write against the audience as it was at that moment);
- send: no idempotency key was delivered twice, and every eligible occurrence
  was delivered once.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import ClassVar

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Operation, Record
from syncs import engine
from tests.syncs.conftest import create_warehouse, make_sync
from tests.syncs.loopback import LoopbackDestination, SimulatedKill

PEOPLE = [f"p{i}" for i in range(8)]

member = st.fixed_dictionaries(
    {
        "present": st.booleans(),
        "name": st.sampled_from(["Ann", "Bob", None]),
        "variant": st.sampled_from(["treatment", "treatment", "treatment", "holdout"]),
        "suppressed": st.sampled_from([None, None, None, "unsubscribe", "erasure"]),
        "consented": st.sampled_from([True, True, True, False]),
        "occurrence": st.sampled_from(["2026-01", "2026-02"]),
    }
)
audience_state = st.lists(member, min_size=len(PEOPLE), max_size=len(PEOPLE))
fault = st.one_of(
    st.none(),
    st.sampled_from(["429", "5xx", "timeout", "kill", "lost", "auth"]),
    st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=3).map(
        lambda ks: "reject:" + ",".join(ks)
    ),
)
step = st.tuples(audience_state, st.lists(fault, max_size=4))
history = st.lists(step, min_size=1, max_size=4)


def load(conn: duckdb.DuckDBPyConnection, state: list[dict]) -> set[str]:
    """Write one audience state into the warehouse; return the keys eligible under the policies."""
    conn.execute("delete from audiences.aud_test")
    conn.execute("delete from marts.customer_consent")
    conn.execute("delete from marts.customer_suppressions")
    eligible = set()
    for key, m in zip(PEOPLE, state):
        conn.execute(
            "insert into marts.customer_consent values (?, 'email', ?, 't', null)",
            [key, m["consented"]],
        )
        if m["suppressed"]:
            conn.execute(
                "insert into marts.customer_suppressions values (?, 'email', ?, null)",
                [key, m["suppressed"]],
            )
        if m["present"]:
            conn.execute(
                "insert into audiences.aud_test values (?, ?, ?, ?, ?)",
                [key, f"{key}@x.com", m["name"], m["variant"], m["occurrence"]],
            )
            if m["variant"] != "holdout" and not m["suppressed"] and m["consented"]:
                eligible.add(key)
    return eligible


class Guarded(LoopbackDestination):
    """Loopback that records any write of a record not eligible at that moment."""

    eligible: ClassVar[set[str]] = set()
    violations: ClassVar[list[str]] = []

    def write(self, records: list[Record]) -> list:
        for r in records:
            if r.operation in (Operation.UPSERT, Operation.SEND) and r.key not in self.eligible:
                self.violations.append(f"{r.operation.value} {r.key}")
        return super().write(records)


def destination() -> Guarded:
    dest = Guarded()
    dest.eligible, dest.violations = set(), []
    # small batches so a run spans several calls and faults land mid-run
    dest.capabilities = replace(dest.capabilities, max_batch_records=3)
    return dest


def schedule(faults: list) -> object:
    calls = iter(faults)
    return lambda _n, _records: next(calls, None)


def run_history(
    mode: str, steps: list
) -> tuple[duckdb.DuckDBPyConnection, Guarded, set[str], list[dict]]:
    conn = duckdb.connect()
    create_warehouse(conn)
    sync = make_sync(mode, policies={"max_attempts": 1000})
    dest = destination()
    state: list[dict] = []
    for state, faults in steps:
        dest.eligible = load(conn, state)
        dest.fault = schedule(faults)
        try:
            engine.run(sync, conn, dest, confirm=True)
        except SimulatedKill:
            pass
    dest.fault = None
    final = load(conn, state)
    dest.eligible = final
    engine.run(sync, conn, dest, confirm=True)
    return conn, dest, final, state


SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(history)
def test_mirror_converges_to_the_audience_and_never_leaks(steps):
    conn, dest, final, state = run_history("mirror", steps)
    try:
        assert dest.violations == []
        assert set(dest.members) == final
        for key, m in zip(PEOPLE, state):
            if key in final:
                assert dest.members[key]["email"] == f"{key}@x.com"
                if m["name"] is not None:
                    assert dest.members[key]["first_name"] == m["name"]
        # and a further run has nothing to do
        assert engine.plan(make_sync("mirror"), conn, sample_size=0).work == 0
    finally:
        conn.close()


@SETTINGS
@given(history)
def test_send_is_at_most_once_and_eventually_once(steps):
    conn, dest, final, state = run_history("send", steps)
    try:
        assert dest.violations == []
        keys = [k for k, _ in dest.sends]
        assert len(keys) == len(set(keys)), "an idempotency key was delivered twice"
        sync = make_sync("send")
        delivered = set(keys)
        for key, m in zip(PEOPLE, state):
            if key in final:
                idem = hashlib.md5(
                    f"{sync.name}\x1f{key}\x1f{m['occurrence']}".encode()
                ).hexdigest()
                assert idem in delivered
    finally:
        conn.close()


@SETTINGS
@given(history)
def test_upsert_never_removes_and_never_leaks(steps):
    conn, dest, final, _state = run_history("upsert", steps)
    try:
        assert dest.violations == []
        assert final <= set(dest.members)
        assert not any(
            op == Operation.REMOVE for call in dest.calls for op in (r.operation for r in call)
        )
    finally:
        conn.close()
