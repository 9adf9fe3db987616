"""Twilio SMS destination against its loopback sandbox: send, limits, 429, opt-outs, reconcile, quiet hours."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors.base import Destination, Operation, Outcome, Record
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.sandbox import (
    MAX_BODY_CHARS,
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    TwilioSandbox,
)
from connectors.twilio.signature import compute_signature


@pytest.fixture()
def sandbox():
    with TwilioSandbox() as sb:
        yield sb


def _dest(sb: TwilioSandbox, **extra) -> TwilioDestination:
    options = {
        "account_sid": SANDBOX_ACCOUNT_SID,
        "auth_token": SANDBOX_AUTH_TOKEN,
        "base_url": sb.base_url + "/2010-04-01",
        "from_number": "+15005550006",
        "body": "Hi {first_name}, your offer awaits",
        "status_callback": "http://127.0.0.1:9/twilio/status",
        **extra,
    }
    return TwilioDestination.from_options(options, name="twilio_sms")


def _sms(key: str, phone: str, intent_at: datetime | None = None, **payload) -> Record:
    """A send whose intent was committed now (what the engine stamps before the request)."""
    return Record(
        key,
        Operation.SEND,
        {"phone": phone, **payload},
        idempotency_key=f"idem-{key}",
        intent_at=intent_at or datetime.now(UTC).replace(tzinfo=None),
    )


def test_signature_matches_twilio_published_vectors() -> None:
    # Twilio's SDK test vector (RequestValidator tests) and its docs' ruby example.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    assert compute_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    params2 = {**params, "Caller": "+12349013030", "From": "+12349013030"}
    assert compute_signature("12345", url, params2) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_send_form_encoded_basic_auth_with_attributed_callback(sandbox: TwilioSandbox) -> None:
    dest = _dest(sandbox)
    assert isinstance(dest, Destination)
    assert dest.capabilities.modes == {"send"} and dest.capabilities.identifiers == {"phone"}
    [result] = dest.write(
        [_sms("p1", "+33612345678", first_name="Ann", ferry_sync_id="aud_x__twilio_sms")]
    )
    assert result.outcome is Outcome.ACCEPTED and result.destination_id.startswith("SM")
    [req] = sandbox.requests_to("POST", "Messages.json$")
    assert req.headers["content-type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
    assert form["To"] == "+33612345678" and form["From"] == "+15005550006"
    assert form["Body"] == "Hi Ann, your offer awaits"
    callback = parse_qs(urlsplit(form["StatusCallback"]).query)
    assert callback == {
        "ferry_key": ["p1"],
        "ferry_idempotency_key": ["idem-p1"],
        "ferry_sync_id": ["aud_x__twilio_sms"],
    }
    message = sandbox.state.messages[result.destination_id]
    assert message["status"] == "queued"
    assert dest.fetch(result.destination_id)["sid"] == result.destination_id
    # wrong credentials are refused the Twilio way
    bad = requests.post(
        sandbox.base_url + f"/2010-04-01/Accounts/{SANDBOX_ACCOUNT_SID}/Messages.json",
        data={"To": "+33612345678", "From": "+15005550006", "Body": "x"},
        headers={
            "Authorization": "Basic "
            + base64.b64encode(f"{SANDBOX_ACCOUNT_SID}:nope".encode()).decode()
        },
        timeout=5,
    )
    assert bad.status_code == 401 and bad.json()["code"] == 20003


def test_per_record_errors_opt_outs_and_limits(sandbox: TwilioSandbox) -> None:
    dest = _dest(sandbox, body="{text}")
    sandbox.state.opt_outs.add(("+33600000002", "+15005550006"))
    sandbox.faults.reject("+33600000003", "'To' number is not a valid mobile number")
    results = dest.write(
        [
            _sms("ok", "+33600000001", text="hello"),
            _sms("stopped", "+33600000002", text="hello"),
            _sms("landline", "+33600000003", text="hello"),
            _sms("invalid", "0612", text="hello"),
            _sms("long", "+33600000004", text="x" * (MAX_BODY_CHARS + 1)),
            Record("nophone", Operation.SEND, {"text": "hello"}),
        ]
    )
    by = {r.key: r for r in results}
    assert by["ok"].outcome is Outcome.ACCEPTED
    assert by["stopped"].outcome is Outcome.SUPPRESSED and by["stopped"].error.startswith("21610")
    assert by["landline"].outcome is Outcome.REJECTED and by["landline"].error.startswith("21614")
    assert by["invalid"].outcome is Outcome.REJECTED and by["invalid"].error.startswith("21211")
    assert by["long"].outcome is Outcome.REJECTED and by["nophone"].outcome is Outcome.REJECTED
    assert all("+336" not in (r.error or "") for r in results)  # numbers never echoed into results
    # the over-long body never left: no request exceeded Twilio's 1,600-character body limit
    for req in sandbox.requests_to("POST", "Messages.json$"):
        assert len(parse_qs(req.body.decode())["Body"][0]) <= MAX_BODY_CHARS


def test_429_is_retryable_paces_the_batch_and_nothing_is_sent_twice(sandbox: TwilioSandbox) -> None:
    dest = _dest(sandbox)
    sandbox.set_rate_limit(1.0, burst=2, bucket="messages")
    started = time.monotonic()
    results = dest.write([_sms(f"p{i}", f"+3361000000{i}", first_name="A") for i in range(4)])
    # The third is refused (429: nothing queued) and sent again after the advertised
    # Retry-After, which the fourth waits out too.
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 4
    assert time.monotonic() - started >= 0.9
    # The fourth may meet the window the third's second try emptied: refused once too.
    assert 1 <= len([r for r in sandbox.request_log if r.status == 429]) <= 2
    assert sorted(m["to"] for m in sandbox.state.outbound()) == [
        f"+3361000000{i}" for i in range(4)
    ]
    # Refused on every try (three): RETRYABLE (the engine sends it on a later run), never
    # in doubt; so is a send whose window opens in over 5 s, without trying again.
    posts = len(sandbox.requests_to("POST", "/Messages.json$"))
    sandbox.faults.fail_next(3, 429, path="/Messages.json$")
    assert dest.write([_sms("p8", "+33610000008", first_name="A")])[0].outcome is Outcome.RETRYABLE
    assert len(sandbox.requests_to("POST", "/Messages.json$")) == posts + 3
    sandbox.set_rate_limit(0.01, burst=1, bucket="messages")  # the next window in 100 s
    first, later = dest.write([_sms(f"p{i}", f"+3361000001{i}", first_name="A") for i in (1, 2)])
    assert (first.outcome, later.outcome) == (Outcome.ACCEPTED, Outcome.RETRYABLE)
    assert len(sandbox.requests_to("POST", "/Messages.json$")) == posts + 5
    assert len(sandbox.state.outbound()) == 5


def test_list_reads_honour_retry_after(sandbox: TwilioSandbox) -> None:
    dest = _dest(sandbox)
    dest.write([_sms("p1", "+33610000001", first_name="A")])
    sandbox.set_rate_limit(1.0, burst=1)
    started = time.monotonic()
    first = dest.reconcile([_sms("p1", "+33610000001", first_name="A")])
    second = dest.reconcile([_sms("p1", "+33610000001", first_name="A")])
    assert first[0].outcome is second[0].outcome is Outcome.ACCEPTED
    assert [r.status for r in sandbox.requests_to("GET", "Messages.json$")] == [200, 429, 200]
    assert time.monotonic() - started >= 0.9  # waited the advertised Retry-After (1 s)


def test_in_doubt_send_is_reconciled_not_resent(sandbox: TwilioSandbox) -> None:
    dest = _dest(sandbox, timeout=0.3)
    sandbox.faults.slow_next(
        1, seconds=0.8, path="Messages.json$"
    )  # queued at Twilio, answer too late
    lost = dest.write([_sms("p1", "+33610000001", first_name="Ann")])
    sandbox.faults.fail_next(1, 503, path="Messages.json$")  # refused before queueing
    lost += dest.write([_sms("p2", "+33610000002", first_name="Bob")])
    sandbox.faults.drop_next(1, path="Messages.json$")  # queued, connection dropped mid-answer
    lost += dest.write([_sms("p3", "+33610000003", first_name="Cy")])
    assert [r.outcome for r in lost] == [Outcome.IN_DOUBT] * 3
    assert (
        len(sandbox.requests_to("POST", "Messages.json$")) == 3
    )  # never replayed by the HTTP layer
    settled = {
        r.key: r.outcome
        for r in dest.reconcile(
            [
                _sms("p1", "+33610000001", first_name="Ann"),
                _sms("p2", "+33610000002", first_name="Bob"),
                _sms("p3", "+33610000003", first_name="Cy"),
            ]
        )
    }
    assert settled == {"p1": Outcome.ACCEPTED, "p2": Outcome.RETRYABLE, "p3": Outcome.ACCEPTED}
    assert sorted(m["to"] for m in sandbox.state.outbound()) == ["+33610000001", "+33610000003"]


def test_quiet_hours_defer_by_recipient_time_zone(sandbox: TwilioSandbox) -> None:
    # 22:30 UTC: 23:30 in Paris (quiet), 17:30 in New York (not quiet)
    now = datetime(2026, 1, 15, 22, 30, tzinfo=UTC)
    dest = _dest(sandbox, quiet_hours={"start": "21:00", "end": "08:00"})
    dest.now = lambda: now
    results = dest.write(
        [_sms("fr", "+33612345678", first_name="A"), _sms("us", "+12125550123", first_name="B")]
    )
    assert (
        results[0].outcome is Outcome.RETRYABLE
        and "quiet hours" in results[0].error
        and "Europe/Paris" in results[0].error
    )
    assert results[1].outcome is Outcome.ACCEPTED
    assert [m["to"] for m in sandbox.state.outbound()] == ["+12125550123"]
    with pytest.raises(ValueError, match="twilio_sms"):
        _dest(sandbox, quiet_hours={"start": "25:00"})


def test_only_send_is_supported_and_no_credentials_means_sandbox(monkeypatch) -> None:
    from connectors.twilio.sandbox import local_sandbox

    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    dest = TwilioDestination.from_options({"body": "Hi"})
    assert dest.is_sandbox and dest.base_url.startswith(local_sandbox().base_url)
    results = dest.write(
        [Record("p1", Operation.UPSERT, {"phone": "+33612345678"}), _sms("p2", "+33612345678")]
    )
    assert results[0].outcome is Outcome.REJECTED and results[1].outcome is Outcome.ACCEPTED


def test_a_broken_body_template_rejects_instead_of_crashing(sandbox: TwilioSandbox) -> None:
    dest = _dest(sandbox, body="Hi {first_name, {")
    [result] = dest.write([_sms("p1", "+33612345678", first_name="A")])
    assert result.outcome is Outcome.REJECTED and result.error.startswith("body template")
    assert not sandbox.requests_to("POST")


def test_erase_messages_deletes_by_sid_and_waits_for_messages_in_progress(sandbox: TwilioSandbox) -> None:
    dest = _dest(sandbox)
    [done, busy] = [r.destination_id for r in dest.write([_sms("p1", "+33612345678"), _sms("p2", "+33612345679")])]
    sandbox.state.messages[done]["status"] = "delivered"  # finished: Twilio lets it be deleted
    answers = dest.erase_messages(
        [
            Record("p1", Operation.DELETE, {"_destination_id": done}),
            Record("p2", Operation.DELETE, {"_destination_id": busy}),
            Record("p1", Operation.DELETE, {"_destination_id": done}),  # already gone: 404
            Record("p3", Operation.DELETE, {"_destination_id": "../Calls/CA1"}),
        ]
    )
    assert [a.outcome for a in answers] == [
        Outcome.ACCEPTED,
        Outcome.RETRYABLE,
        Outcome.ACCEPTED,
        Outcome.REJECTED,
    ]
    assert answers[1].error.startswith("20009:")
    assert done not in sandbox.state.messages and busy in sandbox.state.messages
    assert "Calls" not in " ".join(q.path for q in sandbox.request_log)  # never asked
