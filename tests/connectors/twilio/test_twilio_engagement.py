"""Twilio engagement: signed status callbacks and STOP replies land once; bad posts store nothing; pulls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
import requests

from connectors.base import Operation, Outcome, Record
from connectors.engagement_store import EngagementStore, WsgiServer
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.engagement import TwilioWebhookReceiver, pull_messages
from connectors.twilio.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SmsRates,
    TwilioSandbox,
)
from connectors.twilio.signature import compute_signature
from tests.connectors.twilio.loopback import loopback_receiver


@pytest.fixture()
def store(tmp_path) -> EngagementStore:
    return EngagementStore(tmp_path / "wh.duckdb")


@pytest.fixture()
def loop(store):
    with (
        loopback_receiver(store) as (receiver, server),
        TwilioSandbox(inbound_url=server.base_url + "/twilio/inbound") as sb,
    ):
        dest = TwilioDestination.from_options(
            {
                "account_sid": SANDBOX_ACCOUNT_SID,
                "auth_token": SANDBOX_AUTH_TOKEN,
                "base_url": sb.base_url + "/2010-04-01",
                "body": "Hello {first_name}",
                "status_callback": server.base_url + "/twilio/status",
            }
        )
        yield sb, dest, receiver, server


def _records(n: int) -> list[Record]:
    return [
        Record(
            f"p{i}",
            Operation.SEND,
            {"phone": f"+3361000{i:04d}", "first_name": "A", "ferry_variant": "a"},
            idempotency_key=f"k{i}",
        )
        for i in range(n)
    ]


def test_status_callbacks_and_stop_replies_land_once(loop, store) -> None:
    sb, dest, receiver, _server = loop
    results = dest.write(_records(30))
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    changes = sb.advance(SmsRates(failed=0.1, undelivered=0.1, stop=0.2), seed=3)
    assert store.count("twilio_message_status") == len(changes) > 30
    statuses = dict(
        store.query("select message_status, count(*) from raw.twilio_message_status group by 1")
    )
    assert (
        statuses["delivered"] > 0 and statuses.get("failed", 0) + statuses.get("undelivered", 0) > 0
    )
    attributed = store.query(
        "select count(*) from raw.twilio_message_status where ferry_key is not null and ferry_idempotency_key is not null"
    )[0][0]
    assert attributed == len(changes)  # every callback carried its record key back
    stops = store.query("select phone, keyword, opted_out from raw.twilio_opt_outs")
    assert stops and {k for _, k, _ in stops} == {"STOP"} and all(o for *_, o in stops)
    assert {p for p, *_ in stops} == {to for to, _ in sb.state.opt_outs}
    # a later send to someone who replied STOP is suppressed by Twilio's 21610
    stopped_phone = stops[0][0]
    [again] = dest.write(
        [
            Record(
                "again",
                Operation.SEND,
                {"phone": stopped_phone, "first_name": "A"},
                idempotency_key="k-again",
            )
        ]
    )
    assert again.outcome is Outcome.SUPPRESSED
    # START opts back in
    sb.reply(stopped_phone, "start", to=sb.number)
    assert store.query("select opted_out from raw.twilio_opt_outs where keyword = 'START'") == [
        (False,)
    ]
    assert receiver.stats["rejected"] == 0


def test_forged_unsigned_tampered_replayed_malformed_store_nothing(loop, store) -> None:
    _sb, _dest, _receiver, server = loop
    url = server.base_url + "/twilio/status?ferry_key=p1"
    params = {
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "MessageSid": "SM" + "a" * 32,
        "MessageStatus": "delivered",
        "To": "+33610000001",
        "From": "+15005550006",
    }
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    good = compute_signature(SANDBOX_AUTH_TOKEN, url, params)

    def post(data, signature=None, target=url, headers=form):
        h = dict(headers)
        if signature:
            h["X-Twilio-Signature"] = signature
        return requests.post(target, data=data, headers=h, timeout=5).status_code

    assert post(urlencode(params)) == 401  # unsigned
    assert post(urlencode(params), compute_signature("not-the-token", url, params)) == 403  # forged
    assert post(urlencode({**params, "MessageStatus": "failed"}), good) == 403  # tampered body
    assert post(urlencode(params), good, target=url + "&ferry_key=p2") == 403  # tampered URL
    bad = {
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "MessageStatus": "delivered",
    }  # signed, but no MessageSid
    assert post(urlencode(bad), compute_signature(SANDBOX_AUTH_TOKEN, url, bad)) == 400
    assert post(b"\xff\xfe", "c2ln") == 403  # undecodable garbage
    json_body = b'{"MessageSid": "SM1"}'  # signed over no form parameters, but not a form post
    assert (
        post(
            json_body,
            compute_signature(SANDBOX_AUTH_TOKEN, url, {}),
            headers={"Content-Type": "application/json"},
        )
        == 400
    )
    assert store.count("twilio_message_status") == 0 and store.count("twilio_opt_outs") == 0

    assert post(urlencode(params), good) == 200
    assert post(urlencode(params), good) == 403  # the same signed request again: a replay
    assert store.count("twilio_message_status") == 1
    assert store.query("select ferry_key from raw.twilio_message_status") == [("p1",)]


def test_opted_out_error_callback_becomes_an_opt_out(loop, store) -> None:
    _sb, _dest, _receiver, server = loop
    url = server.base_url + "/twilio/status"
    params = {
        "AccountSid": SANDBOX_ACCOUNT_SID,
        "MessageSid": "SM" + "b" * 32,
        "MessageStatus": "failed",
        "ErrorCode": "21610",
        "To": "+33610000009",
        "From": "+15005550006",
    }
    r = requests.post(
        url,
        data=params,
        headers={"X-Twilio-Signature": compute_signature(SANDBOX_AUTH_TOKEN, url, params)},
        timeout=5,
    )
    assert r.status_code == 200
    assert store.query("select phone, keyword, opted_out from raw.twilio_opt_outs") == [
        ("+33610000009", "21610", True)
    ]


def test_pull_is_incremental_and_idempotent(store) -> None:
    with TwilioSandbox() as sb:
        dest = TwilioDestination.from_options(
            {
                "account_sid": SANDBOX_ACCOUNT_SID,
                "auth_token": SANDBOX_AUTH_TOKEN,
                "base_url": sb.base_url + "/2010-04-01",
                "body": "Hi",
            }
        )
        dest.write(_records(25))
        sb.advance(SmsRates(failed=0.0, undelivered=0.0, stop=0.0))
        sb.reply("+33610000001", "STOP")
        first = pull_messages(dest, store, page_size=10)
        assert first == 25 + 1  # 25 final statuses, 1 opt-out (the inbound text is not stored)
        assert len(sb.requests_to("GET", "Messages.json$")) == 3  # paged through next_page_uri
        assert pull_messages(dest, store, page_size=10) == 0  # re-run: nothing new
        last = sb.requests_to("GET", "Messages.json$")[-1]
        cursor = store.cursor("twilio.messages")
        assert cursor == datetime.now(UTC).strftime("%Y-%m-%d")  # newest send day seen
        since = (datetime.strptime(cursor, "%Y-%m-%d") - timedelta(days=2)).strftime("%Y-%m-%d")
        assert last.query["DateSent>"] == [
            since
        ]  # the second pull started from the cursor, with lookback
        assert store.count("twilio_message_status") == 25 and store.count("twilio_opt_outs") == 1
        assert (
            store.query(
                "select count(*) from raw.twilio_message_status where ingest_source = 'pull'"
            )[0][0]
            == 25
        )


def test_one_receiver_service_for_both_vendors(store) -> None:
    from connectors.receivers import receivers_from_env
    from connectors.sendgrid.sandbox import SendGridSandbox

    signer = SendGridSandbox()
    app = receivers_from_env(
        store,
        {
            "SENDGRID_WEBHOOK_PUBLIC_KEY": signer.public_key,
            "TWILIO_AUTH_TOKEN": SANDBOX_AUTH_TOKEN,
            "FERRY_RECEIVER_PUBLIC_URL": "https://hooks.example.com",
        },
    )
    with WsgiServer(app) as server:
        body = b'[{"sg_event_id": "e1", "event": "delivered", "email": "a@example.com", "timestamp": 1700000000}]'
        assert (
            requests.post(
                server.base_url + "/sendgrid/events",
                data=body,
                headers=signer.sign(body),
                timeout=5,
            ).status_code
            == 200
        )
        url = server.base_url + "/twilio/status"
        params = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "sent", "To": "+33610000001"}
        signed = "https://hooks.example.com/twilio/status"  # what Twilio was given, and signed
        headers = {"X-Twilio-Signature": compute_signature(SANDBOX_AUTH_TOKEN, signed, params)}
        assert requests.post(url, data=params, headers=headers, timeout=5).status_code == 200
        assert (
            requests.post(server.base_url + "/elsewhere", data=b"x", timeout=5).status_code == 404
        )
    assert store.count("sendgrid_events") == 1 and store.count("twilio_message_status") == 1
    with pytest.raises(ValueError):
        receivers_from_env(store, {})
    with pytest.raises(ValueError, match="FERRY_RECEIVER_PUBLIC_URL"):
        receivers_from_env(store, {"TWILIO_AUTH_TOKEN": SANDBOX_AUTH_TOKEN})


def test_behind_a_proxy_the_public_url_is_what_is_signed(store) -> None:
    receiver = TwilioWebhookReceiver(
        store, SANDBOX_AUTH_TOKEN, public_url="https://hooks.example.com/"
    )
    params = {"MessageSid": "SM" + "d" * 32, "MessageStatus": "delivered", "To": "+33610000001"}
    with WsgiServer(receiver) as server:
        local = server.base_url + "/twilio/status?ferry_key=p9"
        public = "https://hooks.example.com/twilio/status?ferry_key=p9"
        signed_local = {"X-Twilio-Signature": compute_signature(SANDBOX_AUTH_TOKEN, local, params)}
        signed_public = {
            "X-Twilio-Signature": compute_signature(SANDBOX_AUTH_TOKEN, public, params)
        }
        assert requests.post(local, data=params, headers=signed_local, timeout=5).status_code == 403
        assert (
            requests.post(local, data=params, headers=signed_public, timeout=5).status_code == 200
        )
    assert store.query("select ferry_key from raw.twilio_message_status") == [("p9",)]
