"""Twilio's own RequestValidator decides; every documented opt-out keyword lands and suppresses.

Signatures are computed here with the official ``twilio`` package's
``RequestValidator`` (never with Ferry's code), over the URL variants Twilio
produces, and posted over loopback to the receiver.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from connectors.base import Operation, Outcome, Record
from connectors.engagement_store import EngagementStore, WsgiServer
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.engagement import TwilioWebhookReceiver
from connectors.twilio.opt_out import START_WORDS, STOP_WORDS
from connectors.twilio.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, TwilioSandbox
from connectors.twilio.signature import compute_signature
from tests.connectors.twilio.loopback import loopback_receiver

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OFFICIAL = RequestValidator(SANDBOX_AUTH_TOKEN)


class _Multi(dict):
    """The MultiDict shape the official validator reads repeated parameters from."""

    def getall(self, name: str) -> list[str]:
        return self[name]


@pytest.fixture()
def store(tmp_path) -> EngagementStore:
    return EngagementStore(tmp_path / "wh.duckdb")


def _status(sid: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": "delivered", "To": "+33610000001"}


@pytest.mark.parametrize(
    ("configured", "twilio_signed"),
    [
        ("https://hooks.example.com", "https://hooks.example.com:443"),  # Twilio added :443
        ("https://hooks.example.com:443", "https://hooks.example.com"),  # Twilio dropped it
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("http://hooks.example.com:8080", "http://hooks.example.com:8080"),
    ],
)
def test_port_variants_signed_by_twilio_are_accepted(store, configured, twilio_signed) -> None:
    receiver = TwilioWebhookReceiver(store, SANDBOX_AUTH_TOKEN, public_url=configured)
    params = _status("SM" + "e" * 32)
    signature = OFFICIAL.compute_signature(twilio_signed + "/twilio/status?ferry_key=p1", params)
    with WsgiServer(receiver) as server:  # behind the proxy: the request line is the local one
        answer = requests.post(
            server.base_url + "/twilio/status?ferry_key=p1",
            data=urlencode(params),
            headers={**FORM, "X-Twilio-Signature": signature},
            timeout=5,
        )
    assert answer.status_code == 200
    assert store.query("select ferry_key from raw.twilio_message_status") == [("p1",)]


def test_another_port_or_host_is_refused(store) -> None:
    receiver = TwilioWebhookReceiver(store, SANDBOX_AUTH_TOKEN, public_url="https://hooks.example.com")
    params = _status("SM" + "f" * 32)
    with WsgiServer(receiver) as server:
        for signed in ("https://hooks.example.com:8443", "https://other.example.com", server.base_url):
            signature = OFFICIAL.compute_signature(signed + "/twilio/status", params)
            answer = requests.post(
                server.base_url + "/twilio/status",
                data=urlencode(params),
                headers={**FORM, "X-Twilio-Signature": signature},
                timeout=5,
            )
            assert answer.status_code == 403, signed
    assert store.count("twilio_message_status") == 0


def test_repeated_parameters_match_the_official_validator(store) -> None:
    """Twilio sorts a repeated parameter's values (and drops duplicates); our old
    hand-written code kept their order, so this body was refused."""
    pairs = [
        ("MessageSid", "SM" + "1" * 32),
        ("MessageStatus", "delivered"),
        ("To", "+33610000001"),
        ("MediaUrl", "https://b.example/2"),
        ("MediaUrl", "https://a.example/1"),
        ("MediaUrl", "https://b.example/2"),
    ]
    multi = _Multi()
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    with loopback_receiver(store) as (_receiver, server):
        url = server.base_url + "/twilio/status"
        official = OFFICIAL.compute_signature(url, multi)
        assert compute_signature(SANDBOX_AUTH_TOKEN, url, pairs) == official
        answer = requests.post(
            url, data=urlencode(pairs), headers={**FORM, "X-Twilio-Signature": official}, timeout=5
        )
    assert answer.status_code == 200


def test_shared_key_hmac_sha256_variant(store) -> None:
    params = _status("SM" + "2" * 32)
    with loopback_receiver(store) as (_receiver, server):
        url = server.base_url + "/twilio/status"
        signature = OFFICIAL.compute_signature(url, params, "HMAC_SHA256")
        headers = {**FORM, "X-Twilio-Signature": signature}
        settings = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
        refused = requests.post(url, data=urlencode(params), headers=headers, timeout=5)
        accepted = requests.post(url, data=urlencode(params), headers={**headers, **settings}, timeout=5)
    assert (refused.status_code, accepted.status_code) == (403, 200)


def test_receiver_requires_the_public_url(store) -> None:
    for bad in ("", "hooks.example.com"):
        with pytest.raises(ValueError, match="FERRY_RECEIVER_PUBLIC_URL"):
            TwilioWebhookReceiver(store, SANDBOX_AUTH_TOKEN, public_url=bad)


def _send_to(dest: TwilioDestination, phone: str, key: str) -> Outcome:
    [result] = dest.write([Record(key, Operation.SEND, {"phone": phone, "first_name": "A"}, idempotency_key=key)])
    return result.outcome


@pytest.mark.parametrize("word", sorted(STOP_WORDS))
def test_every_default_opt_out_keyword_lands_and_suppresses_the_next_send(store, word) -> None:
    phone = "+33610009999"
    with loopback_receiver(store) as (receiver, server):
        with TwilioSandbox(inbound_url=server.base_url + "/twilio/inbound") as sb:
            dest = TwilioDestination.from_options({
                "account_sid": SANDBOX_ACCOUNT_SID, "auth_token": SANDBOX_AUTH_TOKEN,
                "base_url": sb.base_url + "/2010-04-01", "body": "Hi {first_name}",
            })
            assert _send_to(dest, phone, "before") is Outcome.ACCEPTED
            sb.reply(phone, f"  {word.lower()} ")  # any case, surrounding spaces ignored
            assert store.query("select phone, keyword, opted_out from raw.twilio_opt_outs") == [
                (phone, word, True)
            ]
            assert _send_to(dest, phone, "after") is Outcome.SUPPRESSED
    assert receiver.stats["rejected"] == 0


@pytest.mark.parametrize("word", sorted(START_WORDS))
def test_every_opt_in_keyword_lands_an_opt_in(store, word) -> None:
    phone = "+33610008888"
    with loopback_receiver(store) as (_receiver, server):
        with TwilioSandbox(inbound_url=server.base_url + "/twilio/inbound") as sb:
            sb.reply(phone, "STOP")
            sb.reply(phone, word)
            assert (phone, sb.number) not in sb.state.opt_outs
    rows = store.query("select keyword, opted_out from raw.twilio_opt_outs order by event_at, keyword")
    assert set(rows) == {("STOP", True), (word, False)}


def test_advanced_opt_out_custom_keywords_follow_opt_out_type(store) -> None:
    phone = "+33610007777"
    custom = {"ARRET": "STOP", "ALTO": "STOP", "REPRENDRE": "START", "AIDE": "HELP"}
    with loopback_receiver(store) as (_receiver, server):
        with TwilioSandbox(inbound_url=server.base_url + "/twilio/inbound", advanced_opt_out=custom) as sb:
            sb.reply(phone, "Arret")
            assert (phone, sb.number) in sb.state.opt_outs
            sb.reply(phone, "aide")  # HELP: no change, nothing lands
            sb.reply(phone, "reprendre")
            sb.reply(phone, "hello there")  # not a keyword
            sb.reply("+33610006666", "ALTO")
    rows = store.query("select phone, keyword, opted_out from raw.twilio_opt_outs order by phone, opted_out")
    # custom keywords are stored as Twilio's OptOutType, never as the message body
    assert rows == [("+33610006666", "STOP", True), (phone, "START", False), (phone, "STOP", True)]
