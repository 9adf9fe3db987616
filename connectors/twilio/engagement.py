"""Twilio engagement back: status callbacks, inbound STOP/START replies, and a message pull.

Receiver (:class:`TwilioWebhookReceiver`, a WSGI app) serves two paths:

- ``.../status``: message status callbacks -> ``raw.twilio_message_status``,
  idempotent on ``(MessageSid, MessageStatus)`` (callbacks repeat and arrive out
  of order; the furthest status is chosen downstream). An ``ErrorCode`` of
  21610 also lands an opt-out.
- ``.../inbound``: the number's incoming-message webhook; STOP-family keywords
  land an opt-out, START-family an opt-in, in ``raw.twilio_opt_outs`` (the
  keyword only: message bodies are not stored).

Every post is verified first (``X-Twilio-Signature`` = HMAC-SHA1 of the exact
URL plus sorted parameters, see :mod:`connectors.twilio.signature`): missing ->
401, mismatch (forged or tampered) -> 403, a signature already accepted (a
replay; Twilio requests carry no timestamp) -> 403; then a body without the
required parameters -> 400. Nothing is stored from a rejected post. The URL
checked is ``public_url`` + path + query when the receiver sits behind a proxy,
else the URL as the request addressed it.

Pull (:func:`pull_messages`): ``GET Messages.json`` with ``DateSent>`` the
cursor day minus a lookback (inclusive; filtered on the send date), every page through
``next_page_uri``; outbound messages land their current status, inbound
STOP/START replies land opt-outs; the cursor (newest ``date_sent`` day) moves in
the same transaction as the rows, and re-pulling the same day adds nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit
from wsgiref.util import request_uri

from connectors.engagement_store import EngagementStore, dumps, read_body, respond, utc_now
from connectors.twilio.keywords import START_WORDS, STOP_WORDS
from connectors.twilio.signature import signature_valid

OPTED_OUT_CODE = "21610"
_SEEN_MAX = 100_000


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    return parsedate_to_datetime(value).astimezone(UTC).replace(tzinfo=None)


def opt_out_row(
    event_id: str, phone: str, sender: str | None, keyword: str, at: datetime | None
) -> dict[str, Any] | None:
    """A STOP/START (or 21610) as a ``raw.twilio_opt_outs`` row; None for any other text."""
    word = keyword.strip().upper()
    if word in STOP_WORDS or word == OPTED_OUT_CODE:
        opted_out = True
    elif word in START_WORDS:
        opted_out = False
    else:
        return None
    return {
        "event_id": event_id,
        "phone": phone,
        "sender": sender,
        "keyword": word,
        "opted_out": opted_out,
        "event_at": at,
    }


def status_row(
    sid: str,
    status: str,
    to: str | None,
    sender: str | None,
    error_code: str | None,
    direction: str | None,
    account_sid: str | None,
    at: datetime | None,
    attributes: dict[str, str],
) -> dict[str, Any]:
    return {
        "message_sid": sid,
        "message_status": status,
        "to_number": to,
        "from_number": sender,
        "error_code": error_code or None,
        "direction": direction,
        "account_sid": account_sid,
        "event_at": at,
        "ferry_key": attributes.get("ferry_key"),
        "ferry_idempotency_key": attributes.get("ferry_idempotency_key"),
        "attributes_json": dumps(attributes) if attributes else None,
    }


class TwilioWebhookReceiver:
    """WSGI app for Twilio status callbacks (``*/status``) and inbound messages (``*/inbound``)."""

    def __init__(
        self, store: EngagementStore, auth_token: str, *, public_url: str | None = None
    ) -> None:
        self.store = store
        self.auth_token = auth_token
        self.public_url = public_url.rstrip("/") if public_url else None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.RLock()
        self.stats = {"accepted": 0, "rejected": 0, "stored": 0}

    def _url(self, environ: dict[str, Any]) -> str:
        if self.public_url:
            query = environ.get("QUERY_STRING")
            return (
                self.public_url
                + environ.get("SCRIPT_NAME", "")
                + environ.get("PATH_INFO", "")
                + (f"?{query}" if query else "")
            )
        return request_uri(environ, include_query=True)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return respond(start_response, 405, "POST only")
        path = environ.get("PATH_INFO", "")
        kind = (
            "status"
            if path.endswith("/status")
            else "inbound"
            if path.endswith("/inbound")
            else None
        )
        if kind is None:
            return respond(start_response, 404, "unknown path")
        body = read_body(environ, limit=1024 * 1024)
        if body is None:
            return self._reject(start_response, 413, "body too large")
        signature = environ.get("HTTP_X_TWILIO_SIGNATURE")
        if not signature:
            return self._reject(start_response, 401, "unsigned")
        content_type = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip()
        if content_type != "application/x-www-form-urlencoded":
            # JSON webhooks use Twilio's bodySHA256 variant, which these endpoints never receive
            return self._reject(start_response, 400, "form-encoded body expected")
        try:
            params_multi = parse_qs(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)
            )
        except (UnicodeDecodeError, ValueError):
            params_multi = None
        if params_multi is None or not signature_valid(
            self.auth_token, self._url(environ), params_multi, signature
        ):
            return self._reject(start_response, 403, "bad signature")
        with self._lock:
            if signature in self._seen:
                return self._reject(start_response, 403, "replayed")
        params = {k: v[0] for k, v in params_multi.items()}
        attributes = {
            k: v for k, v in parse_qsl(environ.get("QUERY_STRING", "")) if k.startswith("ferry_")
        }
        now = utc_now()
        if kind == "status":
            sid, status = params.get("MessageSid"), params.get("MessageStatus")
            if not sid or not status or not sid.startswith(("SM", "MM")):
                return self._reject(start_response, 400, "MessageSid and MessageStatus required")
            if params.get("ErrorCode"):
                attributes = {**attributes, "error_code": params["ErrorCode"]}
            stored = self.store.land(
                "twilio_message_status",
                [
                    status_row(
                        sid,
                        status,
                        params.get("To"),
                        params.get("From"),
                        params.get("ErrorCode"),
                        "outbound-api",
                        params.get("AccountSid"),
                        now,
                        attributes,
                    )
                ],
                ingest_source="webhook",
            )
            if params.get("ErrorCode") == OPTED_OUT_CODE and params.get("To"):
                row = opt_out_row(
                    f"{sid}:{OPTED_OUT_CODE}", params["To"], params.get("From"), OPTED_OUT_CODE, now
                )
                stored += self.store.land("twilio_opt_outs", [row], ingest_source="webhook")
        else:
            sid, sender, text = params.get("MessageSid"), params.get("From"), params.get("Body")
            if not sid or not sender or text is None:
                return self._reject(start_response, 400, "MessageSid, From and Body required")
            row = opt_out_row(sid, sender, params.get("To"), text, now)
            stored = (
                self.store.land("twilio_opt_outs", [row], ingest_source="webhook") if row else 0
            )
        with self._lock:
            self._seen[signature] = None
            while len(self._seen) > _SEEN_MAX:
                self._seen.popitem(last=False)
            self.stats["accepted"] += 1
            self.stats["stored"] += stored
        if kind == "inbound":  # an empty TwiML answer: no auto-reply from us
            payload = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
            start_response(
                "200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(payload)))]
            )
            return [payload]
        return respond(start_response, 200, f"stored {stored}")

    def _reject(self, start_response: Callable[..., Any], status: int, message: str) -> list[bytes]:
        with self._lock:
            self.stats["rejected"] += 1
        return respond(start_response, status, message)


STREAM = "twilio.messages"


def pull_messages(
    destination: Any, store: EngagementStore, page_size: int = 1000, lookback_days: int = 2
) -> int:
    """Pull messages since the cursor day into raw tables; returns how many rows were new.

    The pull starts ``lookback_days`` before the cursor day: a message's status
    keeps changing after it was sent (queued up to ~10 hours, late delivery
    receipts), and Twilio filters on the send date; re-reading those days costs
    nothing but requests, since rows are idempotent on ``(sid, status)``.

    ``destination`` is a :class:`connectors.twilio.destination.TwilioDestination`
    (its ``http`` client: Basic auth, retries in the one layer).
    """
    cursor = store.cursor(STREAM)
    params: dict[str, Any] | None = {"PageSize": page_size}
    if cursor:
        since = datetime.strptime(cursor, "%Y-%m-%d") - timedelta(days=lookback_days)
        params["DateSent>"] = since.strftime("%Y-%m-%d")
    path: str = destination.messages_path
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(destination.base_url))
    statuses: list[dict[str, Any]] = []
    opt_outs: list[dict[str, Any]] = []
    newest = cursor
    while True:
        response = destination.http.request("GET", path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"GET Messages.json: HTTP {response.status_code}")
        page = response.json()
        for m in page.get("messages", []):
            sent = _ts(m.get("date_sent"))
            if sent is not None:
                day = sent.strftime("%Y-%m-%d")
                newest = max(newest or day, day)
            if m.get("direction") == "inbound":
                row = opt_out_row(
                    m["sid"], m.get("from") or "", m.get("to"), m.get("body") or "", sent
                )
                if row:
                    opt_outs.append(row)
                continue
            statuses.append(
                status_row(
                    m["sid"],
                    m["status"],
                    m.get("to"),
                    m.get("from"),
                    str(m["error_code"]) if m.get("error_code") else None,
                    m.get("direction"),
                    m.get("account_sid"),
                    _ts(m.get("date_updated")),
                    {},
                )
            )
            if str(m.get("error_code") or "") == OPTED_OUT_CODE:
                opt_outs.append(
                    opt_out_row(
                        f"{m['sid']}:{OPTED_OUT_CODE}",
                        m.get("to") or "",
                        m.get("from"),
                        OPTED_OUT_CODE,
                        sent,
                    )
                )  # type: ignore[arg-type]
        next_uri = page.get("next_page_uri")
        if not next_uri:
            break
        path, params = origin + next_uri, None
    new = store.land("twilio_opt_outs", opt_outs, ingest_source="pull")
    cursors = {STREAM: newest} if newest else None
    new += store.land("twilio_message_status", statuses, ingest_source="pull", cursors=cursors)
    return new
