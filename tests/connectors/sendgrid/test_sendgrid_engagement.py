"""SendGrid engagement: signed webhook receiver (accept/reject, nothing stored) and suppression pulls."""

from __future__ import annotations

import json
import time

import pytest
import requests

from connectors.base import Operation, Record
from connectors.engagement_store import EngagementStore, WsgiServer
from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.engagement import SendGridEventReceiver, pull_suppressions
from connectors.sendgrid.sandbox import SANDBOX_API_KEY, EngagementRates, SendGridSandbox


@pytest.fixture()
def store(tmp_path) -> EngagementStore:
    return EngagementStore(tmp_path / "wh.duckdb")


@pytest.fixture()
def loop(store):
    """Sandbox -> signed webhook -> receiver -> raw.sendgrid_events."""
    with SendGridSandbox(job_delay=0.01) as sb:
        receiver = SendGridEventReceiver(store, sb.public_key, tolerance=60)
        with WsgiServer(receiver) as server:
            sb.webhook_url = server.base_url + "/sendgrid/events"
            yield sb, receiver, server


def _send(sb: SendGridSandbox, n: int) -> None:
    dest = SendGridDestination.from_options(
        {
            "api_key": SANDBOX_API_KEY,
            "host": sb.base_url,
            "from_email": "news@shop.example",
            "subject": "Hi",
        }
    )
    dest.write(
        [
            Record(
                f"p{i}",
                Operation.SEND,
                {"email": f"u{i}@example.com", "ferry_sync_id": "aud_x__sendgrid"},
                idempotency_key=f"k{i}",
            )
            for i in range(n)
        ]
    )


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return requests.post(url, data=body, headers=headers, timeout=5).status_code


def test_signed_events_land_once(loop, store) -> None:
    sb, _receiver, _server = loop
    _send(sb, 20)
    events = sb.generate_engagement(
        EngagementRates(bounce=0.1, open=0.5, click=0.5, unsubscribe=0.2), seed=7
    )
    assert store.count("sendgrid_events") == len(events) > 20
    kinds = {r[0] for r in store.query("select distinct event from raw.sendgrid_events")}
    assert {"processed", "delivered", "open"} <= kinds
    row = store.query(
        "select ferry_key, ferry_idempotency_key, payload_json from raw.sendgrid_events where event = 'processed' order by ferry_key limit 1"
    )[0]
    assert (
        row[0] == "p0"
        and row[1] == "k0"
        and json.loads(row[2])["ferry_sync_id"] == "aud_x__sendgrid"
    )
    # SendGrid redelivers (at least once): a fresh signature over the same events stores nothing new
    assert sb.deliver(events) == [200]
    assert store.count("sendgrid_events") == len(events)


def test_forged_unsigned_tampered_replayed_and_malformed_store_nothing(loop, store) -> None:
    sb, receiver, server = loop
    url = server.base_url + "/sendgrid/events"
    event = {
        "email": "a@example.com",
        "timestamp": int(time.time()),
        "event": "open",
        "sg_event_id": "ev1",
        "sg_message_id": "m1",
    }
    body = json.dumps([event]).encode()
    headers = sb.sign(body)

    assert _post(url, body, {"Content-Type": "application/json"}) == 401  # unsigned
    other = SendGridSandbox()  # a different key pair: a forger
    assert _post(url, body, other.sign(body)) == 403
    tampered = json.dumps([{**event, "event": "click"}]).encode()
    assert _post(url, tampered, headers) == 403
    stale = sb.sign(body, timestamp=str(int(time.time()) - 3600))
    assert _post(url, body, stale) == 403
    assert (
        _post(url, body, {**headers, "X-Twilio-Email-Event-Webhook-Signature": "bm90IGEgc2ln"})
        == 403
    )
    for bad in (b"{not json", b'{"event": "open"}', json.dumps([{"event": "open"}]).encode()):
        assert _post(url, bad, sb.sign(bad)) == 400  # signed, but not a batch of events
    assert store.count("sendgrid_events") == 0

    assert _post(url, body, headers) == 200  # the genuine post
    assert _post(url, body, headers) == 403  # replayed as is
    assert store.count("sendgrid_events") == 1
    assert receiver.stats["rejected"] == 9


def test_suppression_pull_is_incremental_and_idempotent(store) -> None:
    with SendGridSandbox() as sb:
        dest = SendGridDestination.from_options({"api_key": SANDBOX_API_KEY, "host": sb.base_url})
        base = int(time.time()) - 1000
        for i in range(3):
            sb.suppress("unsubscribes", f"u{i}@example.com", created=base + i)
        sb.suppress("bounces", "b@example.com", "550 user unknown", created=base)
        sb.suppress("spam_reports", "s@example.com", created=base)
        sb.suppress("invalid_emails", "x@bad", "bad syntax", created=base)
        sb.suppress("blocks", "k@example.com", "blocked", created=base)
        first = pull_suppressions(dest.client, store)
        assert first == {
            "unsubscribes": 3,
            "bounces": 1,
            "spam_reports": 1,
            "invalid_emails": 1,
            "blocks": 1,
        }
        assert pull_suppressions(dest.client, store) == dict.fromkeys(
            first, 0
        )  # re-run: no duplicates
        assert store.cursor("sendgrid.suppression.unsubscribes") == str(base + 2)
        sb.suppress("unsubscribes", "late@example.com", created=base + 50)
        assert pull_suppressions(dest.client, store)["unsubscribes"] == 1
        # the cursor is used: the last pull asked only for what came after it
        last = sb.requests_to("GET", "/v3/suppression/unsubscribes")[-1]
        assert last.query["start_time"] == [str(base + 2)]
        assert store.count("sendgrid_suppressions") == 8
        reason = store.query(
            "select reason from raw.sendgrid_suppressions where suppression_type = 'bounces'"
        )[0][0]
        assert reason == "550 user unknown"


def test_suppression_pull_pages(store) -> None:
    with SendGridSandbox() as sb:
        dest = SendGridDestination.from_options({"api_key": SANDBOX_API_KEY, "host": sb.base_url})
        for i in range(1203):
            sb.suppress("unsubscribes", f"u{i}@example.com", created=1_700_000_000 + i)
        assert pull_suppressions(dest.client, store, types=("unsubscribes",)) == {
            "unsubscribes": 1203
        }
        assert [r.query["offset"] for r in sb.requests_to("GET", "unsubscribes")] == [
            ["0"],
            ["500"],
            ["1000"],
        ]


def test_the_receiver_accepts_sendgrids_published_test_vector(tmp_path) -> None:
    """The key, signature, timestamp and payload from the official sendgrid-python test
    suite (test/unit/test_eventwebhook.py), posted to our receiver as SendGrid would."""
    public_key = (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+"
        "2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
    )
    signature = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
    timestamp = "1600112502"
    payload = json.dumps(
        [
            {
                "email": "hello@world.com",
                "event": "dropped",
                "reason": "Bounced Address",
                "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
                "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
                "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
                "timestamp": 1600112492,
            }
        ],
        sort_keys=True,
        separators=(",", ":"),
    ) + "\r\n"
    store = EngagementStore(tmp_path / "vector.duckdb")
    receiver = SendGridEventReceiver(store, public_key, clock=lambda: 1600112502.0 + 10)  # the vector's time
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }
    with WsgiServer(receiver) as server:
        url = server.base_url + "/sendgrid/events"
        tampered = payload.replace("dropped", "delivered").encode()
        assert requests.post(url, data=tampered, headers=headers, timeout=5).status_code == 403
        assert requests.post(url, data=payload.encode(), headers=headers, timeout=5).status_code == 200
    assert store.query("select event from raw.sendgrid_events") == [("dropped",)]
