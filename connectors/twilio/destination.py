"""Twilio SMS destination (send mode) with ``requests`` through :class:`connectors.http.HttpClient`.

One ``POST /Accounts/{sid}/Messages.json`` per record, form-encoded, HTTP Basic
auth, with a ``StatusCallback`` whose query string carries the record key and
idempotency key (plus the engine's ``ferry_*`` attribution fields): Twilio signs
that exact URL, so status callbacks come back attributed without a lookup.

Outcomes per record:

- 201 -> ACCEPTED, ``destination_id`` = the message ``sid``;
- 400 code 21610 (recipient replied STOP) -> SUPPRESSED, never retried;
- other 4xx (21211 invalid number, 21614 not mobile, 21617 too long...) -> REJECTED;
- 429 (code 20429): Twilio refused before queueing anything, so the HTTP layer tries
  it again while the Retry-After is short (``HttpClient.for_sends``), then RETRYABLE;
- timeout, dropped connection, 5xx -> IN_DOUBT: Twilio has no idempotency key,
  so the HTTP layer never replays a send; :meth:`TwilioDestination.reconcile`
  looks the message up first.
- quiet hours (option): a recipient whose local time, derived from the E.164
  country code with ``phonenumbers.timezone``, falls in the window is deferred
  (RETRYABLE with the reason, no request made), not failed.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import phonenumbers
import requests
from phonenumbers import timezone as phone_timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import (
    DEFERRED,
    Capabilities,
    MissingCredentials,
    Operation,
    Outcome,
    Record,
    RecordResult,
    RetryableError,
    identity,
    identity_where,
    sandbox_chosen,
    target_host,
)
from connectors.http import HttpClient, retry_after_seconds
from connectors.quiet_hours import QuietHours
from connectors.twilio.sandbox import (
    MAX_BODY_CHARS,
    SANDBOX_ACCOUNT_SID,
    SANDBOX_NUMBER,
    local_sandbox,
)

# Twilio's Message SID (its OpenAPI: ^(SM|MM)[0-9a-fA-F]{32}$): only these are ever deleted.
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


class TwilioOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str | None = None  # default $TWILIO_ACCOUNT_SID; none -> error, or the sandbox if chosen
    sandbox: bool | None = None  # true: the local sandbox; default: FERRY_SANDBOX
    auth_token: str | None = None  # default $TWILIO_AUTH_TOKEN
    api_key_sid: str | None = None  # optional: API key instead of the auth token for REST calls
    api_key_secret: str | None = None
    base_url: str | None = None  # default https://api.twilio.com/2010-04-01
    from_number: str | None = None
    messaging_service_sid: str | None = None
    body: str = "{body}"  # template: payload fields in braces; missing fields render empty
    status_callback: str | None = None  # our receiver's status URL
    quiet_hours: QuietHours | None = None
    # reconcile(): how far before a send's intent a message may be dated and still be that
    # send (this host's clock against Twilio's); older messages belong to earlier sends.
    reconcile_clock_skew_seconds: float = 120.0
    timeout: float = 30.0
    max_attempts: int = 6
    # Twilio queues each sender's messages at the sender's rate (a US long code 1 segment
    # a second, toll-free 3, a short code 100+, a Messaging Service its pool's sum) for at
    # most 10 hours, then fails them (21611 / 30001): pace at the sender's rate, shared by
    # every sync to this account and sender. The REST API answers 429 (20429) beyond the
    # account's concurrent requests; each one holds every send to the sender (Retry-After).
    messages_per_second: float = Field(10.0, gt=0, le=10_000)
    max_concurrency: int = Field(4, ge=1, le=32)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


class TwilioDestination:
    """SMS through Twilio's Messages resource (or the local sandbox)."""

    options_model = TwilioOptions  # checked when syncs load (syncs.registry.option_errors)

    honours_quiet_hours = True  # a sync's policies.quiet_hours arrives as options["quiet_hours"]

    capabilities = Capabilities(
        modes=frozenset({"send"}),
        identifiers=frozenset({"phone"}),
        max_batch_records=100,  # one request per message; a batch bounds the work between commits
        max_batch_bytes=None,
        # Defaults; an instance's come from its options (messages_per_second, max_concurrency).
        max_requests_per_second=10.0,
        max_concurrency=4,
        request_per_send=True,  # each send's intent is committed just before its own POST
    )

    def __init__(
        self,
        options: TwilioOptions,
        name: str = "twilio",
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.now = now or (lambda: datetime.now(UTC))
        self._held: set[str] = set()  # message SIDs that settle no other send (reconcile)
        self.capabilities = replace(
            TwilioDestination.capabilities,
            max_requests_per_second=options.messages_per_second,
            max_concurrency=options.max_concurrency,
        )
        sid = None if options.sandbox else options.account_sid or os.environ.get("TWILIO_ACCOUNT_SID")
        token = options.auth_token or os.environ.get("TWILIO_AUTH_TOKEN")
        base = options.base_url
        self._local = False  # the process-wide sandbox: its port changes, its identity does not
        if not sid or not (token or options.api_key_secret):
            if not sandbox_chosen(options.sandbox):
                missing = {"account_sid": "TWILIO_ACCOUNT_SID"} if not sid else {}
                if not (token or options.api_key_secret):
                    missing["auth_token"] = "TWILIO_AUTH_TOKEN"
                raise MissingCredentials(f"{name!r} (type twilio)", missing)
            self._local = True
            sandbox = local_sandbox()
            sid, token, base = (
                sandbox.account_sid,
                sandbox.auth_token,
                sandbox.base_url + "/2010-04-01",
            )
        self.account_sid = sid
        self.is_sandbox = sid == SANDBOX_ACCOUNT_SID
        self.base_url = (base or "https://api.twilio.com/2010-04-01").rstrip("/")
        auth = (
            (options.api_key_sid, options.api_key_secret) if options.api_key_sid else (sid, token)
        )
        self.http = HttpClient(
            self.base_url, auth=auth, timeout=options.timeout, max_attempts=options.max_attempts
        )
        # Sends are not idempotent at Twilio: one try, failures classified, never replayed
        # here. A 429's Retry-After (at most 60 s) holds the next sends: the client's hold,
        # which the engine shares with every sync to this account and sender.
        self.send_http = HttpClient.for_sends(
            self.base_url, auth=auth, timeout=options.timeout, max_retry_after=60.0
        )
        if not (options.from_number or options.messaging_service_sid) and self.is_sandbox:
            self.options = options.model_copy(update={"from_number": SANDBOX_NUMBER})

    @classmethod
    def from_options(cls, options: dict[str, Any], name: str = "twilio") -> TwilioDestination:
        try:
            parsed = TwilioOptions.model_validate(options or {})
        except ValidationError as exc:
            raise ValueError(
                f"destination {name!r} (type twilio): invalid options: {_describe(exc)}"
            ) from None
        return cls(parsed, name=name)

    @property
    def target_label(self) -> str:
        return "sandbox" if self.is_sandbox else target_host(self.base_url)

    @property
    def destination_identity(self) -> str:
        """``twilio:<host>:account=<sid>:sender=<messaging service or number>`` (SIDs are not secrets)."""
        where = identity_where(self.base_url, self.is_sandbox, self._local)
        sender = self.options.messaging_service_sid or self.options.from_number or ""
        return identity("twilio", where, f"account={self.account_sid}", f"sender={sender}" if sender else "")

    def erases_for(self, destination_key: str) -> bool:
        """Whether this account's credentials reach messages sent under `destination_key`:
        any sender of the same account (a sync moved to another number or messaging
        service still erases what it sent from the old one)."""
        where = identity_where(self.base_url, self.is_sandbox, self._local)
        account = identity("twilio", where, f"account={self.account_sid}")
        return destination_key == account or destination_key.startswith(account + ":")

    @property
    def messages_path(self) -> str:
        return f"/Accounts/{self.account_sid}/Messages.json"

    # ------------------------------------------------------------------ contract

    def render(self, record: Record) -> str:
        values = _Blank({k: "" if v is None else str(v) for k, v in record.payload.items()})
        return string.Formatter().vformat(self.options.body, (), values).strip()

    def in_quiet_hours(self, phone: str) -> str | None:
        """The reason to defer this recipient now, or None."""
        qh = self.options.quiet_hours
        if qh is None:
            return None
        try:
            zones = [
                z
                for z in phone_timezone.time_zones_for_number(phonenumbers.parse(phone))
                if z != "Etc/Unknown"
            ]
        except phonenumbers.NumberParseException:
            zones = []
        now = self.now()
        for zone in zones or [qh.default_timezone]:
            local = now.astimezone(ZoneInfo(zone))
            if qh.contains(local):  # any of the number's zones in quiet hours: wait
                return f"{DEFERRED}quiet hours ({qh.start}-{qh.end} {zone})"
        return None

    def write(self, records: list[Record]) -> list[RecordResult]:
        out = []
        for record in records:
            if record.operation is not Operation.SEND:
                out.append(
                    RecordResult(
                        record.key,
                        Outcome.REJECTED,
                        f"twilio supports send only, not {record.operation.value}",
                    )
                )
                continue
            out.append(self._send(record))
        return out

    def _callback_url(self, record: Record) -> str | None:
        base = self.options.status_callback
        if not base:
            return None
        parts = urlsplit(base)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query.append(("ferry_key", record.key))
        if record.idempotency_key:
            query.append(("ferry_idempotency_key", record.idempotency_key))
        query += [
            (k, str(v))
            for k, v in sorted(record.payload.items())
            if k.startswith("ferry_") and v is not None
        ]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _send(self, record: Record) -> RecordResult:
        phone = str(record.payload.get("phone") or "").strip()
        if not phone:
            return RecordResult(record.key, Outcome.REJECTED, "no phone for this record")
        try:
            body = self.render(record)
        except (ValueError, IndexError, AttributeError) as exc:  # a broken template in options.body
            return RecordResult(record.key, Outcome.REJECTED, f"body template: {exc}")
        if not body:
            return RecordResult(record.key, Outcome.REJECTED, "empty message body")
        if len(body) > MAX_BODY_CHARS:
            return RecordResult(
                record.key,
                Outcome.REJECTED,
                f"body is {len(body)} characters (Twilio's limit is {MAX_BODY_CHARS})",
            )
        deferred = self.in_quiet_hours(phone)
        if deferred:
            return RecordResult(record.key, Outcome.RETRYABLE, deferred)
        form = {"To": phone, "Body": body}
        if self.options.messaging_service_sid:
            form["MessagingServiceSid"] = self.options.messaging_service_sid
        else:
            form["From"] = self.options.from_number or ""
        callback = self._callback_url(record)
        if callback:
            form["StatusCallback"] = callback
        try:
            response = self.send_http.request("POST", self.messages_path, data=form)
        except RetryableError as exc:
            if "HTTP 429" in str(exc):
                # Twilio refused before queueing, on every try: safe to send later. The HTTP
                # layer holds the next sends for the answer's Retry-After; without one, 1 s.
                response = getattr(exc.__context__, "response", None)
                if response is None or retry_after_seconds(response) is None:
                    self.send_http.hold.extend(1.0)
                return RecordResult(record.key, Outcome.RETRYABLE, str(exc))
            return RecordResult(record.key, Outcome.IN_DOUBT, str(exc))
        except requests.RequestException as exc:  # e.g. connection dropped mid-body
            return RecordResult(
                record.key, Outcome.IN_DOUBT, f"POST Messages.json: {type(exc).__name__}"
            )
        if response.status_code == 201:
            return RecordResult(
                record.key, Outcome.ACCEPTED, destination_id=response.json().get("sid")
            )
        code, message = _twilio_error(response)
        if code == 21610:
            return RecordResult(record.key, Outcome.SUPPRESSED, f"21610: {message}")
        return RecordResult(record.key, Outcome.REJECTED, f"{code}: {_redact(message)}")

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Settle in-doubt sends by listing the messages to each recipient.

        Twilio has no idempotency key and its Message resource does not echo the
        StatusCallback, so a send is found as an outbound message to the same
        number with the exact rendered body, created after the send's intent was
        committed (``Record.intent_at``, less ``reconcile_clock_skew_seconds`` for
        the two clocks): an earlier wave's identical message is never taken for
        this one. Each message settles at most one send. Twilio creates the
        resource before it answers 201, so the list is authoritative: no such
        message means never queued (RETRYABLE). A send without an intent time, or
        a lookup that fails, stays IN_DOUBT.
        """
        skew = timedelta(seconds=self.options.reconcile_clock_skew_seconds)
        claimed = set(self._held)  # what the engine's ledger holds (reconcile_holding)
        found: dict[str, RecordResult] = {}
        ordered = sorted(records, key=lambda r: (r.intent_at or datetime.min, r.key))
        for record in ordered:
            found[record.key] = self._reconcile_one(record, skew, claimed)
        return [found[r.key] for r in records]

    def reconcile_holding(self, message_sids: set[str]) -> None:
        """The messages the engine's ledger already holds for other sends: never taken for
        an in-doubt one (two members of a household share a phone and get the same text)."""
        self._held = set(message_sids)

    def _reconcile_one(self, record: Record, skew: timedelta, claimed: set[str]) -> RecordResult:
        if record.intent_at is None:
            return RecordResult(record.key, Outcome.IN_DOUBT, "no intent time to look up from")
        phone = str(record.payload.get("phone") or "").strip()
        try:
            body = self.render(record)
        except (ValueError, IndexError, AttributeError) as exc:
            return RecordResult(record.key, Outcome.IN_DOUBT, f"body template: {exc}")
        params: dict[str, Any] = {"To": phone, "PageSize": 50}
        if self.options.from_number and not self.options.messaging_service_sid:
            params["From"] = self.options.from_number
        try:
            response = self.http.request("GET", self.messages_path, params=params)
        except (RetryableError, requests.RequestException) as exc:
            return RecordResult(record.key, Outcome.IN_DOUBT, f"lookup failed: {type(exc).__name__}")
        if response.status_code != 200:
            return RecordResult(record.key, Outcome.IN_DOUBT, f"lookup HTTP {response.status_code}")
        horizon = record.intent_at.replace(tzinfo=UTC) - skew
        candidates = []
        for m in response.json().get("messages", []):
            if m.get("sid") in claimed or m.get("body") != body:
                continue
            if not str(m.get("direction") or "outbound-api").startswith("outbound"):
                continue
            created = parsedate_to_datetime(m["date_created"]) if m.get("date_created") else None
            if created is None or created < horizon:
                continue  # an earlier send of the same text: not this one
            candidates.append((created, m["sid"]))
        if not candidates:
            return RecordResult(record.key, Outcome.RETRYABLE, "not found at Twilio: never queued")
        _created, sid = min(candidates)
        claimed.add(sid)
        return RecordResult(record.key, Outcome.ACCEPTED, destination_id=sid)

    def erase_messages(self, records: list[Record]) -> list[RecordResult]:
        """Delete an erased person's messages from the account (``DELETE Messages/{Sid}.json``).

        Why: a sent SMS stays in Twilio's message log with the number and the text
        until someone deletes it, so erasure must reach it (GDPR art. 17). Each
        record's ``payload["_destination_id"]`` is a message SID the engine's send
        ledger kept. 204, and 404 (already gone), erase it. 20009 (Twilio has not
        finished processing the message; it asks to wait minutes) is RETRYABLE: the
        next run tries again. Deleting is idempotent, so retries are safe.
        """
        out = []
        for record in records:
            sid = str(record.payload.get("_destination_id") or "")
            if not _MESSAGE_SID.match(sid):
                out.append(RecordResult(record.key, Outcome.REJECTED, "not a Twilio message SID"))
                continue
            path = f"/Accounts/{self.account_sid}/Messages/{sid}.json"
            try:
                # One try: what fails (20009 needs minutes) is asked again by the next run.
                response = self.send_http.request("DELETE", path)
            except RetryableError as exc:
                answer = getattr(exc.__context__, "response", None)
                reason = str(exc)
                if answer is not None:
                    code, message = _twilio_error(answer)
                    reason = f"{code}: {_redact(message)}" if code else reason
                out.append(RecordResult(record.key, Outcome.RETRYABLE, reason))
                continue
            except requests.RequestException as exc:
                out.append(
                    RecordResult(record.key, Outcome.RETRYABLE, f"DELETE message: {type(exc).__name__}")
                )
                continue
            if response.status_code in (204, 404):
                out.append(RecordResult(record.key, Outcome.ACCEPTED, destination_id=sid))
                continue
            code, message = _twilio_error(response)
            kind = Outcome.RETRYABLE if code == 20009 else Outcome.REJECTED
            out.append(RecordResult(record.key, kind, f"{code}: {_redact(message)}"))
        return out

    def fetch(self, sid: str) -> dict[str, Any]:
        """One message by sid (``GET Messages/{Sid}.json``)."""
        response = self.http.request("GET", f"/Accounts/{self.account_sid}/Messages/{sid}.json")
        response.raise_for_status()
        return response.json()


def _twilio_error(response: requests.Response) -> tuple[int | None, str]:
    try:
        body = response.json()
        return body.get("code"), str(body.get("message") or f"HTTP {response.status_code}")
    except ValueError:
        return None, f"HTTP {response.status_code}"


def _redact(message: str) -> str:
    """Twilio messages echo the number: never let it into results or logs."""
    return re.sub(r"\+?\d[\d ()-]{6,}\d", "<phone>", message)


def _describe(exc: ValidationError) -> str:
    """Which option is wrong and why, without echoing values (an option may be a secret)."""
    return "; ".join(
        f"options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
    )
