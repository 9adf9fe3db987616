"""Erasure reaches what send syncs left behind: the tool's message log and Ferry's send ledger.

Real components: a DuckDB warehouse file, the Twilio sandbox over loopback HTTP.
"""

from __future__ import annotations

import json

import pytest

from connectors.base import Outcome, RecordResult
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, TwilioSandbox
from syncs import engine
from syncs import state as st
from syncs.history import pending_erasures, unpark
from tests.syncs.conftest import make_sync
from tests.syncs.loopback import LoopbackDestination

PEOPLE = [
    ("p1", "+33612345671", "Ana"),
    ("p2", "+33612345672", "Ben"),
    ("p3", "+33612345673", "Cy"),
]


@pytest.fixture()
def sandbox():
    with TwilioSandbox() as sb:
        yield sb


def _twilio_options(sb: TwilioSandbox) -> dict[str, str]:
    return {
        "account_sid": SANDBOX_ACCOUNT_SID,
        "auth_token": SANDBOX_AUTH_TOKEN,
        "base_url": sb.base_url + "/2010-04-01",
        "from_number": "+15005550006",
        "body": "Hi {first_name}, your offer awaits",
    }


def _twilio(sb: TwilioSandbox) -> TwilioDestination:
    return TwilioDestination.from_options(_twilio_options(sb), name="twilio_sms")


def _sms_sync(name: str = "aud_sms__twilio_sms", **overrides):
    return make_sync(
        "send",
        channel="sms",
        table="aud_sms",
        identifiers={"phone": "phone"},
        name=name,
        audience="aud_sms",
        **overrides,
    )


def _audience(conn, people) -> None:
    conn.execute(
        "create or replace table audiences.aud_sms (profile_id varchar, phone varchar, "
        "first_name varchar, variant varchar, entered_at varchar)"
    )
    for pid, phone, name in people:
        conn.execute(
            "insert into audiences.aud_sms values (?, ?, ?, null, '2026-12-01')", [pid, phone, name]
        )
    conn.execute("delete from marts.customer_consent where channel = 'sms'")
    conn.execute(
        "insert into marts.customer_consent select profile_id, 'sms', true, 'test', null from audiences.aud_sms"
    )


def _erase(conn, *profiles: str, keep_in_audience: bool = False) -> None:
    conn.execute(
        "create table if not exists marts.erased_profiles (profile_id varchar, erased_at timestamp)"
    )
    for p in profiles:
        conn.execute("insert into marts.erased_profiles values (?, now())", [p])
        if not keep_in_audience:
            conn.execute("delete from audiences.aud_sms where profile_id = ?", [p])


def _ledger(conn, key: str) -> list[tuple]:
    return conn.execute(
        f"select status, identifiers_json, payload_json, destination_id, error from {st.LEDGER} "
        "where record_key = ?",
        [key],
    ).fetchall()


def test_an_erased_persons_messages_are_deleted_at_twilio_and_scrubbed_from_the_ledger(
    conn, sandbox
) -> None:
    _audience(conn, PEOPLE)
    sync, dest = _sms_sync(), _twilio(sandbox)
    assert engine.run(sync, conn, dest).sent == 3
    sandbox.advance()  # delivered: Twilio lets a finished message be deleted
    [(_, _, _, sid_p2, _)] = _ledger(conn, "p2")
    assert sid_p2 in sandbox.state.messages

    _erase(conn, "p2")
    preview = engine.plan(sync, conn, destination=dest)
    assert preview.counts["erase"] == 1 and "1 erasures" in preview.headline()
    r = engine.run(sync, conn, dest)

    assert r.status == "success", r.error
    assert r.sent == 0 and r.planned["erase"] == 1 and r.erased == 1  # erased, nothing sent again
    assert sid_p2 not in sandbox.state.messages
    assert {m["to"] for m in sandbox.state.outbound()} == {"+33612345671", "+33612345673"}
    deletes = [q for q in sandbox.request_log if q.method == "DELETE"]
    assert [q.path.rsplit("/", 1)[-1] for q in deletes] == [f"{sid_p2}.json"]
    # The ledger keeps the exactly-once book (key, status, SID), not the person.
    assert _ledger(conn, "p2") == [("sent", None, None, sid_p2, "erased")]
    assert "+33612345672" not in json.dumps(
        conn.execute(f"select * from {st.LEDGER}").fetchall(), default=str
    )
    assert all(row[1] for row in _ledger(conn, "p1") + _ledger(conn, "p3"))
    assert pending_erasures(conn) == []
    assert conn.execute(
        f"select planned_erasures from {st.RUNS} where run_id = ?", [r.run_id]
    ).fetchone() == (1,)
    # Confirmed: the next run has nothing left to erase.
    assert engine.plan(sync, conn, destination=dest).counts["erase"] == 0
    assert engine.run(sync, conn, dest).planned.get("erase", 0) == 0


def test_a_message_twilio_is_still_processing_is_erased_by_a_later_run(conn, sandbox) -> None:
    _audience(conn, PEOPLE[:2])
    sync, dest = _sms_sync(), _twilio(sandbox)
    engine.run(sync, conn, dest)  # queued at Twilio, not yet delivered
    _erase(conn, "p1")

    r = engine.run(sync, conn, dest)
    assert r.status == "partial" and "1 erasures left for the next run" in (r.error or ""), r.error
    assert "20009" in r.error and (r.erased, r.erasures_left, r.pending) == (0, 1, 0)
    [left] = pending_erasures(conn)
    assert left["sync"] == sync.name and left["pending"] == 1 and "20009" in left["last_error"]
    assert _ledger(conn, "p1")[0][1] is not None  # kept until Twilio has deleted the message

    sandbox.advance()
    r = engine.run(sync, conn, dest)
    assert r.status == "success", r.error
    assert pending_erasures(conn) == []
    assert _ledger(conn, "p1")[0][1:3] == (None, None)
    assert {m["to"] for m in sandbox.state.outbound()} == {"+33612345672"}


def test_a_delete_twilio_refuses_is_parked_listed_and_asked_again_once_released(
    conn, sandbox
) -> None:
    """A refusal for good (a 400 that is not 20009) is not asked again every run: it is
    listed with Twilio's reason until a person releases it (`ferry sync unpark`)."""
    _audience(conn, PEOPLE[:2])
    sync, dest = _sms_sync(), _twilio(sandbox)
    engine.run(sync, conn, dest)
    sandbox.advance()
    _erase(conn, "p1")
    sandbox.faults.fail_next(1, status=400, method="DELETE")

    r = engine.run(sync, conn, dest)
    assert r.status == "partial" and "erasure refused" in (r.error or ""), r.error
    assert (r.erased, r.erasures_left) == (0, 1)
    [left] = pending_erasures(conn)
    assert left["pending"] == 1 and left["last_error"].startswith("erasure refused: ")
    deletes = lambda: [q for q in sandbox.request_log if q.method == "DELETE"]  # noqa: E731
    assert len(deletes()) == 1

    again = engine.run(sync, conn, dest)  # parked: not asked again, still listed
    assert again.status == "success" and again.planned.get("erase", 0) == 0, again.error
    assert len(deletes()) == 1 and len(pending_erasures(conn)) == 1

    assert unpark(conn, sync.name) == 1  # a person fixed the cause at Twilio
    released = engine.run(sync, conn, dest)
    assert released.status == "success" and released.erased == 1, released.error
    assert len(deletes()) == 2 and pending_erasures(conn) == []
    assert {m["to"] for m in sandbox.state.outbound()} == {"+33612345672"}
    assert _ledger(conn, "p1")[0][1:3] == (None, None)


def test_messages_sent_from_an_earlier_sender_of_the_account_are_erased_too(conn, sandbox) -> None:
    """The sync moved to another number (a new destination key, fresh state); what it
    sent from the old one is still in the account's log and must leave it on erasure."""
    _audience(conn, PEOPLE[:2])
    sync, old_sender = _sms_sync(), _twilio(sandbox)
    engine.run(sync, conn, old_sender)
    sandbox.advance()
    [(_, _, _, old_sid, _)] = _ledger(conn, "p1")
    new_sender = TwilioDestination.from_options(
        {**_twilio_options(sandbox), "from_number": "+15005550009"}, name="twilio_sms"
    )
    assert new_sender.destination_identity != old_sender.destination_identity
    _erase(conn, "p1")

    assert engine.plan(sync, conn, destination=new_sender).counts["erase"] == 1
    r = engine.run(sync, conn, new_sender)
    assert r.status == "success" and r.erased == 1, r.error
    assert old_sid not in sandbox.state.messages and pending_erasures(conn) == []
    assert [row[1:3] for row in _ledger(conn, "p1")] == [(None, None)]
    # Another account's credentials do not reach them: those stay listed.
    other = TwilioDestination.from_options(
        {**_twilio_options(sandbox), "account_sid": "AC" + "1" * 32}, name="twilio_sms"
    )
    assert not other.erases_for(old_sender.destination_identity)
    assert new_sender.erases_for(old_sender.destination_identity)


def test_a_destination_that_cannot_delete_messages_still_loses_nothing_but_the_personal_data(
    conn,
) -> None:
    _audience(conn, PEOPLE)
    sync, dest = _sms_sync(), LoopbackDestination()
    assert engine.run(sync, conn, dest).sent == 3
    _erase(conn, "p3")
    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.planned["erase"] == 1 and len(dest.sends) == 3
    assert _ledger(conn, "p3")[0][:3] == ("sent", None, None)
    assert pending_erasures(conn) == []


class _Unsettled(LoopbackDestination):
    """A destination that cannot settle lost answers, and can delete messages."""

    def __init__(self) -> None:
        super().__init__()
        self.deleted: list[str] = []

    def reconcile(self, records):
        return [RecordResult(r.key, Outcome.IN_DOUBT, "lookup unavailable") for r in records]

    def erase_messages(self, records):
        self.deleted += [r.payload["_destination_id"] for r in records]
        return [RecordResult(r.key, Outcome.ACCEPTED) for r in records]


def test_a_send_still_in_doubt_keeps_what_reconcile_needs_until_it_is_settled(conn) -> None:
    """Scrubbing an unsettled send would leave reconcile nothing to look it up by, and a
    send proven 'absent' that way could go out twice: such rows wait."""
    _audience(conn, PEOPLE[:2])
    sync, dest = _sms_sync(), _Unsettled()
    assert engine.run(sync, conn, dest).sent == 2
    conn.execute(f"update {st.LEDGER} set destination_id = 'm-' || record_key")
    conn.execute(f"update {st.LEDGER} set status = 'in_doubt' where record_key = 'p1'")
    _erase(conn, "p1", "p2")

    r = engine.run(sync, conn, dest)
    assert dest.deleted == ["m-p2"] and r.erased == 1
    [(status, ids, payload, *_)] = _ledger(conn, "p1")
    assert status == "in_doubt" and ids and payload  # untouched until reconcile settles it
    assert _ledger(conn, "p2")[0][1:3] == (None, None)
    assert [e["pending"] for e in pending_erasures(conn)] == [1]


def test_an_erased_person_an_audience_still_lists_is_never_messaged(conn, sandbox) -> None:
    _audience(conn, PEOPLE)
    _erase(conn, "p2", keep_in_audience=True)  # e.g. a hand-written audience without the filter
    sync, dest = _sms_sync(), _twilio(sandbox)
    preview = engine.plan(sync, conn, destination=dest)
    assert preview.counts["send"] == 2 and preview.suppressed == {"suppressed_erasure": 1}
    assert engine.run(sync, conn, dest).sent == 2
    assert "+33612345672" not in {m["to"] for m in sandbox.state.outbound()}


def test_a_send_sync_keyed_by_phone_still_finds_the_erased_persons_messages(conn, sandbox) -> None:
    """The ledger keeps the person (profile_id) beside the sync's own key."""
    _audience(conn, PEOPLE)
    sync = _sms_sync("aud_sms__twilio_by_phone", key="phone")
    dest = _twilio(sandbox)
    assert engine.run(sync, conn, dest).sent == 3
    sandbox.advance()
    _erase(conn, "p2")

    r = engine.run(sync, conn, dest)
    assert r.status == "success" and r.erased == 1, r.error
    assert {m["to"] for m in sandbox.state.outbound()} == {"+33612345671", "+33612345673"}
    assert _ledger(conn, "+33612345672")[0][1:3] == (None, None)
    assert pending_erasures(conn) == []
