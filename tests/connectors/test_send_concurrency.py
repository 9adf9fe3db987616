"""SendGrid mail and Twilio SMS keep several sends in flight, each sent exactly once.

One request per message: at one request at a time a 100,000-message campaign spent
4-5 hours waiting on the vendor's latency. Mail Send is outside SendGrid's 600
requests a minute; Twilio paces each sender at its own rate (`messages_per_second`).
The sandbox counts the requests in flight, and the first three wait for each other
at it (a barrier: it passes only if three are in flight together).
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.sandbox import SANDBOX_API_KEY, SendGridSandbox
from connectors.twilio.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SANDBOX_NUMBER,
    TwilioSandbox,
)
from syncs import engine
from syncs.config import DestinationSpec, SyncConfig
from syncs.registry import build_destination, option_errors
from tests.faults.harness import send_sync, sms_warehouse

MEMBERS = 30
IN_FLIGHT = 3


def _twilio(sandbox: TwilioSandbox) -> tuple[SyncConfig, dict[str, Any], str]:
    options = {
        "account_sid": SANDBOX_ACCOUNT_SID,
        "auth_token": SANDBOX_AUTH_TOKEN,
        "base_url": f"{sandbox.base_url}/2010-04-01",
        "from_number": SANDBOX_NUMBER,
        "body": "Hi {first_name}",
        "max_concurrency": IN_FLIGHT,
        "messages_per_second": 1000,
    }
    spec = {"type": "twilio", "options": options}
    return send_sync("twilio", "sms", {"phone": "phone"}), spec, "/Messages.json"


def _sendgrid(sandbox: SendGridSandbox) -> tuple[SyncConfig, dict[str, Any], str]:
    options = {
        "api_key": SANDBOX_API_KEY,
        "host": sandbox.base_url,
        "from_email": "news@example.com",
        "subject": "Your offer",
        "send_concurrency": IN_FLIGHT,
    }
    spec = {"type": "sendgrid", "options": options}
    return send_sync("sendgrid", "email", {"email": "email"}), spec, "/v3/mail/send"


def _sent(kind: str, sandbox: Any) -> Counter:
    if kind == "twilio":
        return Counter(m["to"] for m in sandbox.state.outbound())
    return Counter(m["to_email"] for m in sandbox.state.messages)


@pytest.mark.parametrize("kind", ["twilio", "sendgrid"])
def test_sends_go_out_several_at_once_within_the_limit_and_once_each(
    tmp_path: Path, kind: str
) -> None:
    sandbox_cls, configure = {"twilio": (TwilioSandbox, _twilio), "sendgrid": (SendGridSandbox, _sendgrid)}[kind]  # fmt: skip
    gate = threading.Barrier(IN_FLIGHT, timeout=30)
    count_lock = threading.Lock()
    seen = {"in_flight": 0, "most": 0, "gated": 0}
    db = tmp_path / "wh.duckdb"
    members = [(f"p{i:02d}", f"+3361000{i:04d}", f"Name{i}", "2026-12-01") for i in range(MEMBERS)]
    sms_warehouse(db, members)
    conn = duckdb.connect(str(db))
    with sandbox_cls() as sandbox:
        sync, spec, path = configure(sandbox)

        def count(request: Any, phase: str) -> None:
            if request.method != "POST" or not request.path.endswith(path):
                return
            with count_lock:
                seen["in_flight"] += 1 if phase == "before" else -1
                seen["most"] = max(seen["most"], seen["in_flight"])
                wait = phase == "before" and seen["gated"] < IN_FLIGHT
                seen["gated"] += wait
            if wait:
                gate.wait()

        sandbox.on_request = count
        destination = build_destination(spec, sync=sync)
        assert destination.capabilities.max_concurrency == IN_FLIGHT
        result = engine.run(sync, conn, destination)
        assert result.status == "success" and result.sent == MEMBERS, result.error
        assert seen["most"] == IN_FLIGHT  # three at once (the barrier proves it), never four
        sent = _sent(kind, sandbox)
        assert len(sent) == MEMBERS and set(sent.values()) == {1}
        again = engine.run(sync, conn, build_destination(spec, sync=sync))
        assert again.sent == 0 and _sent(kind, sandbox) == sent
    conn.close()


def test_sendgrid_contacts_stay_one_request_at_a_time() -> None:
    """Upserts wait on their import job within the account's 600 requests a minute: the
    send limits apply to a send sync's destination only."""
    options = {"api_key": SANDBOX_API_KEY, "host": "http://127.0.0.1:9", "list_name": "x"}
    contacts = build_destination({"type": "sendgrid", "options": options})
    assert contacts.capabilities == SendGridDestination.capabilities
    assert contacts.capabilities.max_concurrency == 1
    sender = build_destination(
        {"type": "sendgrid", "options": options | {"send_concurrency": 6}},
        sync=send_sync("sendgrid", "email", {"email": "email"}),
    )
    assert sender.capabilities.max_concurrency == 6
    assert sender.capabilities.max_requests_per_second is None
    # The mode is the sync's: written in destinations.yml it is refused when syncs load,
    # and never lets a contacts sync run at the send limits.
    written = DestinationSpec(type="sendgrid", options=options | {"sync_mode": "send"})
    assert "sync_mode" in (option_errors(written) or "")
    mirror = send_sync("sendgrid", "email", {"email": "email"}).model_copy(update={"mode": "mirror"})
    assert build_destination(written, sync=mirror).capabilities.max_concurrency == 1


@pytest.mark.parametrize("kind", ["twilio", "sendgrid"])
def test_a_rate_limited_vendor_refusing_sends_in_flight_costs_no_record_the_run(
    tmp_path: Path, kind: str
) -> None:
    """The vendor allows 5 requests a second (burst 2) while 3 are in flight: the sends
    refused together with a 429 (nothing sent) wait for the vendor's window and go again
    in the same run, instead of failing it or waiting for the next one."""
    sandbox_cls, configure = {"twilio": (TwilioSandbox, _twilio), "sendgrid": (SendGridSandbox, _sendgrid)}[kind]  # fmt: skip
    db = tmp_path / "wh.duckdb"
    sms_warehouse(db, [(f"p{i:02d}", f"+3361000{i:04d}", f"N{i}", "2026-12-01") for i in range(20)])
    conn = duckdb.connect(str(db))
    with sandbox_cls() as sandbox:
        sandbox.set_rate_limit(5.0, 2, bucket="messages" if kind == "twilio" else "mail")
        sync, spec, path = configure(sandbox)
        result = engine.run(sync, conn, build_destination(spec, sync=sync))
        refused = [r for r in sandbox.request_log if r.path.endswith(path) and r.status == 429]
        assert refused, "the vendor's limit must have refused some sends in flight"
        assert result.status == "success" and result.sent == 20, result.error
        sent = _sent(kind, sandbox)
        assert len(sent) == 20 and set(sent.values()) == {1}
    conn.close()
