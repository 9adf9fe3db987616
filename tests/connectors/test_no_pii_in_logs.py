"""No connector logs a secret or raw PII, whatever happens during a write.

Each of the six destinations writes a small batch to its loopback sandbox with
every logger at DEBUG (urllib3's request lines, the HTTP layer's retry notes,
the connectors' own logs) while the sandbox answers one request with a 5xx
(a retry) and rejects one record (the per-record error path). Nothing logged or
printed may contain an email address, a phone number (E.164, national spelling
or bare digits) or a credential. Hashes (Meta, Google Ads) and record keys may
appear: they are what the logs are for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Destination, Operation, Outcome, Record
from connectors.hashing import sha256_hex

EMAILS = ("Ann.Secret@Example.com", "bob.private@example.org", "rejected.person@example.net")
PHONES = ("+33612345678", "+12024561111", "+447911123456")  # E.164, as synced
# what each phone must never appear as: the E.164 digits and the national spelling
PHONE_FORMS = (
    "33612345678",
    "0612345678",
    "16505550142",
    "6505550142",
    "447911123456",
    "07911123456",
)


@dataclass
class Case:
    """A destination writing to its sandbox, the records to write, and what must stay unlogged."""

    destination: Destination
    records: list[Record]
    secrets: list[str]
    sandbox: Any = None  # answers the first `fail_method` request with a 5xx (a retry)
    fail_method: str | None = "POST"
    after: Callable[[], None] = lambda: None
    # each sandbox is told to reject the third person (the per-record error path)
    expect_rejected: set[str] = field(default_factory=lambda: {"p2"})


def _people(op: Operation, with_phone: bool = True, send: bool = False) -> list[Record]:
    records = []
    for i, email in enumerate(EMAILS):
        payload = {"email": email, "first_name": f"Person{i}"}
        if with_phone:
            payload["phone"] = PHONES[i]
        records.append(Record(f"p{i}", op, payload, idempotency_key=f"idem-p{i}" if send else None))
    return records


def _sendgrid(stack: ExitStack, tmp_path: Path) -> Case:
    from connectors.sendgrid.destination import SendGridDestination
    from connectors.sendgrid.sandbox import SendGridSandbox

    key = "SG.leak-canary-sendgrid.0123456789abcdefghij"
    sb = stack.enter_context(SendGridSandbox(api_key=key, job_delay=0.02))
    sb.faults.reject(EMAILS[2].lower(), "invalid email")
    dest = SendGridDestination.from_options(
        {"api_key": key, "host": sb.base_url, "list_name": "aud_pii_check",
         "from_email": "news@shop.example", "template_id": "d-123", "poll_interval": 0.02},
        name="sendgrid_marketing",
    )  # fmt: skip
    return Case(
        dest, _people(Operation.UPSERT, with_phone=False), [key], sb, "PUT", after=sb.advance
    )


def _twilio(stack: ExitStack, tmp_path: Path) -> Case:
    from connectors.twilio.destination import TwilioDestination
    from connectors.twilio.sandbox import SANDBOX_ACCOUNT_SID, TwilioSandbox

    token = "leak-canary-twilio-auth-token-0123456789"
    sb = stack.enter_context(TwilioSandbox(auth_token=token))
    sb.faults.reject("+447911123456", "21211 invalid 'To' phone number")
    dest = TwilioDestination.from_options(
        {"account_sid": SANDBOX_ACCOUNT_SID, "auth_token": token,
         "base_url": sb.base_url + "/2010-04-01", "from_number": "+15005550006",
         "body": "Hi {first_name}", "status_callback": "http://127.0.0.1:9/twilio/status"},
        name="twilio_sms",
    )  # fmt: skip
    return Case(dest, _people(Operation.SEND, send=True), [token], sb, "POST")


def _meta(stack: ExitStack, tmp_path: Path) -> Case:
    from connectors.meta.destination import MetaCustomAudience
    from connectors.meta.sandbox import MetaSandbox

    token = "EAAleakcanarymetaaccesstoken0123456789"
    sb = stack.enter_context(MetaSandbox(access_token=token))
    sb.faults.reject(sha256_hex(EMAILS[2].lower()))
    dest = MetaCustomAudience.from_options(
        {"audience_id": "23850000000001", "access_token": token, "base_url": sb.base_url,
         "backoff_initial": 0.01}
    )  # fmt: skip
    dest.http.sleep = lambda s: None
    return Case(dest, _people(Operation.UPSERT), [token], sb, "POST")


def _google_ads(stack: ExitStack, tmp_path: Path) -> Case:
    from connectors.google_ads.destination import GoogleAdsCustomerMatch
    from connectors.google_ads.sandbox import GoogleAdsSandbox

    access, developer = "ya29.leak-canary-google-access-token", "leak-canary-developer-token"
    sb = stack.enter_context(GoogleAdsSandbox(access_token=access, developer_token=developer))
    sb.faults.reject(sha256_hex(EMAILS[2].lower()))
    dest = GoogleAdsCustomerMatch.from_options(
        {"customer_id": "1234567890", "user_list_id": "555", "developer_token": developer,
         "access_token": access, "base_url": sb.base_url, "poll_interval": 0,
         "job_wait_seconds": 5, "backoff_initial": 0.01}
    )  # fmt: skip
    dest.sleep = dest.http.sleep = lambda s: None
    return Case(dest, _people(Operation.UPSERT), [access, developer], sb, "POST")


def _google_datamanager(stack: ExitStack, tmp_path: Path) -> Case:
    from connectors.google_ads.datamanager import GoogleDataManagerAudience
    from connectors.google_ads.datamanager_sandbox import DataManagerSandbox
    from connectors.hashing import google_hashed_email

    access = "ya29.leak-canary-datamanager-access-token"
    sb = stack.enter_context(DataManagerSandbox(access_token=access))
    sb.faults.reject(google_hashed_email(EMAILS[2]))
    dest = GoogleDataManagerAudience.from_options(
        {"customer_id": "1234567890", "user_list_id": "555", "access_token": access, "base_url": sb.base_url,
         "backoff_initial": 0.01}
    )  # fmt: skip
    dest.http.sleep = lambda s: None
    return Case(dest, _people(Operation.UPSERT), [access], sb, "POST")


def _webhook(stack: ExitStack, tmp_path: Path) -> Case:
    from connectors.webhook.destination import WebhookDestination
    from connectors.webhook.sandbox import WebhookReceiver

    secret = "whsec-leak-canary-0123456789abcdef"
    sb = stack.enter_context(WebhookReceiver(secret=secret))
    sb.faults.reject("p2")
    dest = WebhookDestination.from_options(
        {"url": sb.url(), "secret": secret, "name": "crm_hook", "backoff_initial": 0.01}
    )
    dest.http.sleep = lambda s: None
    return Case(dest, _people(Operation.UPSERT), [secret], sb, None)


def _file(stack: ExitStack, tmp_path: Path) -> Case:
    from connectors.file.destination import FileExport

    dest = FileExport.from_options(
        {"path": str(tmp_path), "format": "csv", "name": "pii_check", "run_id": "r1"}
    )
    return Case(dest, _people(Operation.UPSERT), [], expect_rejected=set())


CONNECTORS: dict[str, Callable[[ExitStack, Path], Case]] = {
    "sendgrid": _sendgrid,
    "twilio": _twilio,
    "meta": _meta,
    "google_ads": _google_ads,
    "google_datamanager": _google_datamanager,
    "webhook": _webhook,
    "file": _file,
}


@pytest.fixture()
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


def _leaks(text: str, secrets: list[str]) -> list[str]:
    lowered = text.lower()
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "\n")
    found = [e for e in EMAILS if e.lower() in lowered]
    found += [e.split("@")[0] for e in EMAILS if e.split("@")[0].lower() in lowered]
    found += [p for p in PHONES if p in text]
    found += [p for p in PHONE_FORMS if p in text or p in digits.replace("\n", " ")]
    found += [s for s in secrets if s in text]
    return found


@pytest.mark.parametrize("connector", sorted(CONNECTORS))
def test_a_write_logs_no_secret_or_raw_pii(
    connector: str,
    stack: ExitStack,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = CONNECTORS[connector](stack, tmp_path)
    # the root logger at DEBUG, as an operator debugging a sync would set it; loggers
    # the project deliberately quietens (python_http_client logs request bodies and
    # headers at DEBUG) keep their own level: that is part of what is under test
    caplog.set_level(logging.DEBUG)
    if case.sandbox is not None:
        case.sandbox.faults.fail_next(1, 503, method=case.fail_method)
    results = case.destination.write(case.records)
    case.after()
    captured = capsys.readouterr()

    # the write really happened, through the retry and the rejection
    assert {r.key for r in results} == {r.key for r in case.records}
    rejected = {r.key for r in results if r.outcome is Outcome.REJECTED}
    assert rejected == case.expect_rejected
    if case.sandbox is not None:
        assert '" 503 ' in caplog.text, "the sandbox's 5xx was not met"  # urllib3's status line

    logged = caplog.text + "\n".join(
        str(getattr(r, "args", "")) for r in caplog.records
    )  # arguments too, in case a handler formats them differently
    for where, text in (("logs", logged), ("stdout", captured.out), ("stderr", captured.err)):
        assert _leaks(text, case.secrets) == [], f"{connector} wrote to {where}: {text[-2000:]}"


def test_the_leak_check_catches_each_kind_of_leak() -> None:
    """The detector itself: each form of leak is found, hashes and keys are not leaks."""
    secret = "SG.leak-canary"
    for text in (
        "upserting ann.secret@example.com",
        "to=+33 6 12 34 56 78",
        "To=%2B33612345678",
        "phone 06.12.34.56.78",
        f"Authorization: Bearer {secret}",
    ):
        assert _leaks(text, [secret]), text
    assert _leaks(f"hash {sha256_hex('ann.secret@example.com')} for key p0", [secret]) == []
