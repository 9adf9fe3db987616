"""A local Twilio Programmable Messaging API (see shared/api/twilio.md).

Same paths (``/2010-04-01/Accounts/{AccountSid}/Messages.json`` and
``Messages/{Sid}.json``), HTTP Basic auth (Account SID + Auth Token),
form-encoded requests, JSON answers, Twilio's error body
``{"code", "message", "more_info", "status"}`` and codes: 20003 auth, 20404 not
found, 21602 body required, 21603 from required, 21604 to required, 21211
invalid To, 21617 body over 1,600 characters, 21610 recipient opted out (STOP),
21614 not a mobile number (used for injected per-record rejections), 20429 with
HTTP 429 past the configured rate (with ``Retry-After``).

Messages are created ``queued``; :meth:`TwilioSandbox.advance` moves them to
``sent`` then ``delivered``/``undelivered``/``failed`` at configurable rates,
POSTing a signed status callback (``X-Twilio-Signature``) for each change, and
makes some recipients reply STOP: an inbound message, an opt-out (later sends
to them get 21610) and a signed POST to the incoming-message webhook
(``inbound_url``). The list endpoint filters by ``To``, ``From``, ``DateSent``,
``DateSent<``, ``DateSent>`` (dates, inclusive), pages with ``PageSize`` (at
most 1,000) and ``next_page_uri``, newest first, like Twilio.
"""

from __future__ import annotations

import base64
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox import Request, Response, SandboxServer, TokenBucket, post_webhook
from connectors.twilio.opt_out import START_WORDS, STOP_WORDS, opt_out_decision
from connectors.twilio.signature import compute_signature

API = "/2010-04-01"
MAX_BODY_CHARS = 1_600
MAX_PAGE_SIZE = 1_000
SANDBOX_ACCOUNT_SID = "AC" + "0" * 31 + "1"
SANDBOX_AUTH_TOKEN = "sandbox-auth-token"
SANDBOX_NUMBER = "+15005550006"  # Twilio's own magic test sender number
__all__ = ["START_WORDS", "STOP_WORDS"]  # re-exported for older imports
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _error(status: int, code: int, message: str) -> Response:
    return Response.json(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status,
    )


def _rfc2822(ts: float | None) -> str | None:
    return format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True) if ts else None


@dataclass
class SmsRates:
    """Outcome probabilities per queued message."""

    failed: float = 0.02
    undelivered: float = 0.05
    stop: float = 0.05  # of delivered: the recipient replies STOP


@dataclass
class TwilioState:
    messages: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # sid -> message (internal fields prefixed _)
    opt_outs: set[tuple[str, str]] = field(default_factory=set)  # (recipient, sender)

    def outbound(self) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["direction"] == "outbound-api"]

    def age(self, seconds: float) -> None:
        """Date every message `seconds` earlier (tests: "the previous wave was yesterday")."""
        for m in self.messages.values():
            m["_created"] -= seconds
            m["date_created"] = _rfc2822(m["_created"])
            if m.get("_sent") is not None:
                m["_sent"] -= seconds
                m["date_sent"] = _rfc2822(m["_sent"])


class TwilioSandbox(SandboxServer):
    vendor = "twilio"

    def __init__(
        self,
        *,
        account_sid: str = SANDBOX_ACCOUNT_SID,
        auth_token: str = SANDBOX_AUTH_TOKEN,
        inbound_url: str | None = None,
        number: str = SANDBOX_NUMBER,
        advanced_opt_out: dict[str, str] | None = None,
    ) -> None:
        """``advanced_opt_out``: custom keywords of a Messaging Service with Advanced
        Opt-Out, word -> ``STOP``/``START``/``HELP``; their replies carry ``OptOutType``."""
        super().__init__()
        self.advanced_opt_out = {k.upper(): v.upper() for k, v in (advanced_opt_out or {}).items()}
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.inbound_url = inbound_url
        self.number = number  # the account's sending number (inbound replies go to it)
        self.state = TwilioState()
        self.route(
            "POST", API + "/Accounts/{account}/Messages.json", self._create, bucket="messages"
        )
        self.route("GET", API + "/Accounts/{account}/Messages.json", self._list)
        self.route("GET", API + "/Accounts/{account}/Messages/{sid}.json", self._fetch)
        self.route("DELETE", API + "/Accounts/{account}/Messages/{sid}.json", self._delete)

    # ------------------------------------------------------------------ hooks

    def authenticate(self, request: Request) -> Response | None:
        header = request.header("Authorization") or ""
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if header != expected:
            return _error(401, 20003, "Authenticate")
        return None

    def error_response(self, status: int, message: str, request: Request | None = None) -> Response:
        code = {404: 20404, 405: 20004, 429: 20429}.get(status, 20500 if status >= 500 else 20001)
        return _error(status, code, message)

    def too_many_requests(
        self, request: Request, bucket: TokenBucket, retry_after: float
    ) -> Response:
        response = _error(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        return response

    # ------------------------------------------------------------------ endpoints

    def _account_ok(self, request: Request) -> Response | None:
        if request.params["account"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    def _resource(self, m: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if not k.startswith("_")}

    def _create(self, request: Request) -> Response:
        denied = self._account_ok(request)
        if denied:
            return denied
        form = request.form()
        to, sender, service = form.get("To"), form.get("From"), form.get("MessagingServiceSid")
        body = form.get("Body")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sender = sender or self.number
        if (to, sender) in self.state.opt_outs:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        reason = self.faults.rejection_for(to)
        if reason:
            return _error(400, 21614, reason)
        callback = form.get("StatusCallback")
        if callback and not re.match(r"^https?://", callback):
            return _error(400, 21609, "The StatusCallback URL is not valid.")
        now = time.time()
        sid = "SM" + uuid.uuid4().hex
        segments = 1 if len(body) <= 160 else -(-len(body) // 153)
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "messaging_service_sid": service,
            "body": body,
            "status": "queued" if not service else "accepted",
            "direction": "outbound-api",
            "num_segments": str(segments),
            "num_media": "0",
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "api_version": "2010-04-01",
            "date_created": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "date_sent": None,
            "uri": f"{API}/Accounts/{self.account_sid}/Messages/{sid}.json",
            "_created": now,
            "_sent": None,
            "_callback": callback,
        }
        self.state.messages[sid] = message
        return Response.json(self._resource(message), 201)

    def _fetch(self, request: Request) -> Response:
        denied = self._account_ok(request)
        if denied:
            return denied
        m = self.state.messages.get(request.params["sid"].removesuffix(".json"))
        if m is None:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return Response.json(self._resource(m))

    def _delete(self, request: Request) -> Response:
        """As Twilio: 204; 404 when unknown; 20009 while the message is still being processed."""
        denied = self._account_ok(request)
        if denied:
            return denied
        sid = request.params["sid"].removesuffix(".json")
        with self.lock:
            m = self.state.messages.get(sid)
            if m is None:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            if m["status"] in ("queued", "accepted", "scheduled", "sending", "sent"):  # not final yet
                return _error(409, 20009, "Cannot delete this resource before it is complete")
            del self.state.messages[sid]
        return Response.empty()

    def _list(self, request: Request) -> Response:
        denied = self._account_ok(request)
        if denied:
            return denied
        try:
            page_size = int(request.arg("PageSize", "50") or 50)
            page = int(request.arg("Page", "0") or 0)
        except ValueError:
            return _error(400, 20001, "PageSize and Page must be integers")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return _error(400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
        filters: list[tuple[str, str]] = []
        for name in ("To", "From", "DateSent", "DateSent<", "DateSent>"):
            value = request.arg(name)
            if value:
                if name.startswith("DateSent") and not re.match(r"^\d{4}-\d{2}-\d{2}$", value[:10]):
                    return _error(400, 20001, f"{name} must be a date (YYYY-MM-DD)")
                filters.append((name, value))

        def keep(m: dict[str, Any]) -> bool:
            sent_day = time.strftime("%Y-%m-%d", time.gmtime(m["_sent"])) if m["_sent"] else None
            for name, value in filters:
                if name == "To" and m["to"] != value:
                    return False
                if name == "From" and m["from"] != value:
                    return False
                if name.startswith("DateSent"):
                    day = value[:10]
                    if sent_day is None:
                        return False
                    if name == "DateSent" and sent_day != day:
                        return False
                    if name == "DateSent<" and sent_day > day:
                        return False
                    if name == "DateSent>" and sent_day < day:
                        return False
            return True

        rows = sorted(
            (m for m in self.state.messages.values() if keep(m)),
            key=lambda m: (-m["_created"], m["sid"]),
        )
        chunk = rows[page * page_size : (page + 1) * page_size]
        base = f"{API}/Accounts/{self.account_sid}/Messages.json"
        query = [(k, v) for k, v in filters] + [("PageSize", str(page_size))]
        next_uri = None
        if (page + 1) * page_size < len(rows):
            next_uri = f"{base}?{urlencode(query + [('Page', str(page + 1)), ('PageToken', 'PA' + str(page + 1))])}"
        return Response.json(
            {
                "messages": [self._resource(m) for m in chunk],
                "page": page,
                "page_size": page_size,
                "start": page * page_size,
                "end": page * page_size + max(0, len(chunk) - 1),
                "uri": f"{base}?{urlencode(query + [('Page', str(page))])}",
                "first_page_uri": f"{base}?{urlencode(query + [('Page', '0')])}",
                "next_page_uri": next_uri,
                "previous_page_uri": None
                if page == 0
                else f"{base}?{urlencode(query + [('Page', str(page - 1))])}",
            }
        )

    # ------------------------------------------------------------------ engagement

    def _callback(self, m: dict[str, Any]) -> int | None:
        url = m.get("_callback")
        if not url:
            return None
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": m["from"],
            "MessageSid": m["sid"],
            "MessageStatus": m["status"],
            "SmsSid": m["sid"],
            "SmsStatus": m["status"],
            "To": m["to"],
        }
        if m.get("error_code"):
            params["ErrorCode"] = str(m["error_code"])
        body = urlencode(params).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": compute_signature(self.auth_token, url, params),
        }
        return post_webhook(url, body, headers)

    def advance(self, rates: SmsRates | None = None, seed: int = 0) -> list[tuple[str, str]]:
        """Move every pending outbound message to its final status; returns (sid, status) changes."""
        rates = rates or SmsRates()
        rng = random.Random(seed)
        changes: list[tuple[str, str]] = []
        to_post: list[dict[str, Any]] = []
        stops: list[tuple[str, str]] = []
        with self.lock:
            for m in self.state.outbound():
                if m["status"] not in ("queued", "accepted"):
                    continue
                now = time.time()
                roll = rng.random()
                if roll < rates.failed:
                    final, code = "failed", 30008
                    steps = [final]
                else:
                    m["_sent"], m["date_sent"] = now, _rfc2822(now)
                    if roll < rates.failed + rates.undelivered:
                        final, code = "undelivered", 30003
                    else:
                        final, code = "delivered", None
                    steps = ["sent", final]
                for status in steps:
                    m["status"] = status
                    m["error_code"] = code if status in ("failed", "undelivered") else None
                    m["date_updated"] = _rfc2822(now)
                    changes.append((m["sid"], status))
                    to_post.append(dict(m))
                if final == "delivered" and rng.random() < rates.stop:
                    stops.append((m["to"], m["from"]))
        for snapshot in to_post:
            self._callback(snapshot)
        for recipient, sender in stops:
            self.reply(recipient, "STOP", to=sender)
        return changes

    def reply(self, from_number: str, body: str, to: str | None = None) -> str:
        """An inbound SMS from a recipient: records it, applies STOP/START, posts the signed webhook."""
        to = to or self.number
        now = time.time()
        sid = "SM" + uuid.uuid4().hex
        keyword = body.strip().upper()
        opt_out_type = self.advanced_opt_out.get(keyword)
        if opt_out_type is None and self.advanced_opt_out:
            # a Messaging Service with Advanced Opt-Out tags the default keywords too
            opt_out_type = "STOP" if keyword in STOP_WORDS else "START" if keyword in START_WORDS else None
        decision = opt_out_decision(body, opt_out_type)
        with self.lock:
            if decision is not None and decision[1]:
                self.state.opt_outs.add((from_number, to))
            elif decision is not None:
                self.state.opt_outs.discard((from_number, to))
            self.state.messages[sid] = {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": to,
                "from": from_number,
                "messaging_service_sid": None,
                "body": body,
                "status": "received",
                "direction": "inbound",
                "num_segments": "1",
                "num_media": "0",
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "api_version": "2010-04-01",
                "date_created": _rfc2822(now),
                "date_updated": _rfc2822(now),
                "date_sent": _rfc2822(now),
                "uri": f"{API}/Accounts/{self.account_sid}/Messages/{sid}.json",
                "_created": now,
                "_sent": now,
                "_callback": None,
            }
        if self.inbound_url:
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": "2010-04-01",
                "Body": body,
                "From": from_number,
                "MessageSid": sid,
                "NumMedia": "0",
                "NumSegments": "1",
                "SmsMessageSid": sid,
                "SmsSid": sid,
                "SmsStatus": "received",
                "To": to,
            }
            if opt_out_type:
                params["OptOutType"] = opt_out_type
            post_webhook(
                self.inbound_url,
                urlencode(params).encode(),
                {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": compute_signature(
                        self.auth_token, self.inbound_url, params
                    ),
                },
            )
        return sid


_LOCAL: TwilioSandbox | None = None


def local_sandbox() -> TwilioSandbox:
    """The process-wide sandbox a destination uses when no Twilio credentials are set."""
    global _LOCAL
    if _LOCAL is None:
        _LOCAL = TwilioSandbox().start()
    return _LOCAL


def running_sandbox() -> TwilioSandbox | None:
    """The process-wide sandbox if something started it, else None (never starts one).

    For demo and test steps that act on what was sent to it (engagement generation).
    """
    return _LOCAL
