"""Two members of a household share a phone and get the same text: a send whose answer
was lost is settled against the messages the ledger does not already hold.

Measured before the fix (the second send's POST answered 503 before Twilio queued it):
the next run's lookup took the first member's message for the second's, marked it sent,
and the second member's message was never sent; erasing either member then deleted the
other's message.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors.twilio.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_NUMBER,
    TwilioSandbox,
)
from syncs import engine
from syncs.registry import build_destination
from tests.faults.harness import send_sync, sms_warehouse

PHONE = "+33610000001"


def test_an_in_doubt_send_never_takes_a_household_members_message(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    sms_warehouse(db, [("p00", PHONE, "Ann", "2026-12-01"), ("p01", PHONE, "Bob", "2026-12-01")])
    sync = send_sync("twilio", "sms", {"phone": "phone"})
    conn = duckdb.connect(str(db))
    with TwilioSandbox() as sandbox:
        options = {
            "account_sid": SANDBOX_ACCOUNT_SID,
            "auth_token": SANDBOX_AUTH_TOKEN,
            "base_url": f"{sandbox.base_url}/2010-04-01",
            "from_number": SANDBOX_NUMBER,
            "body": "Your offer is ready",  # the same text for both
        }
        spec = {"type": "twilio", "options": options}
        # One of the two sends is answered 503 before Twilio queued anything: in doubt.
        sandbox.faults.fail_next(1, status=503, method="POST", path="/Messages.json$")
        first = engine.run(sync, conn, build_destination(spec, sync=sync))
        assert first.status == "needs_attention" and first.sent == 1 and first.in_doubt == 1
        assert len(sandbox.state.outbound()) == 1
        # The lookup finds only the other member's message, which the ledger holds: the
        # in-doubt send is proven absent and sent.
        second = engine.run(sync, conn, build_destination(spec, sync=sync))
        assert second.status == "success" and second.reconciled == 1 and second.sent == 1
        messages = sandbox.state.outbound()
        assert len(messages) == 2 and {m["to"] for m in messages} == {PHONE}
        ledger = conn.execute(
            "select record_key, status, destination_id from ferry_sync.send_ledger order by 1"
        ).fetchall()
        assert [(k, s) for k, s, _ in ledger] == [("p00", "sent"), ("p01", "sent")]
        assert {sid for *_, sid in ledger} == {m["sid"] for m in messages}
    conn.close()


def test_an_in_doubt_send_never_takes_another_senders_message(tmp_path: Path) -> None:
    """Two syncs of one account send the same text to one phone, one through a Messaging
    Service (its lookup has no From filter, so it sees every sender of the account)."""
    db = tmp_path / "wh.duckdb"
    sms_warehouse(db, [("p00", PHONE, "Ann", "2026-12-01")])

    by_number = send_sync("twilio", "sms", {"phone": "phone"}, name="aud_sms__twilio_number")
    by_service = send_sync("twilio", "sms", {"phone": "phone"}, name="aud_sms__twilio_service")
    conn = duckdb.connect(str(db))
    with TwilioSandbox() as sandbox:
        base = {"account_sid": SANDBOX_ACCOUNT_SID, "auth_token": SANDBOX_AUTH_TOKEN,
                "base_url": f"{sandbox.base_url}/2010-04-01", "body": "Your offer is ready"}  # fmt: skip
        number = {"type": "twilio", "options": {**base, "from_number": SANDBOX_NUMBER}}
        service = {"type": "twilio", "options": {**base, "messaging_service_sid": "MG" + "0" * 32}}
        sandbox.faults.fail_next(1, status=503, method="POST", path="/Messages.json$")
        assert engine.run(by_service, conn, build_destination(service, sync=by_service)).in_doubt == 1
        assert engine.run(by_number, conn, build_destination(number, sync=by_number)).sent == 1
        again = engine.run(by_service, conn, build_destination(service, sync=by_service))
        assert again.status == "success" and again.reconciled == 1 and again.sent == 1
        messages = sandbox.state.outbound()
        assert len(messages) == 2
        sids = [s for (s,) in conn.execute("select destination_id from ferry_sync.send_ledger").fetchall()]  # fmt: skip
        assert sorted(sids) == sorted(m["sid"] for m in messages)
    conn.close()
