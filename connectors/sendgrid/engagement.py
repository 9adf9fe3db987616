"""SendGrid engagement back: the signed event webhook receiver and the suppression pull.

Receiver (:class:`SendGridEventReceiver`, a WSGI app): verifies the signed
event webhook with ``sendgrid.helpers.eventwebhook.EventWebhook`` over the raw
body *before* parsing, and stores nothing from a post that fails:

- no signature/timestamp headers -> 401;
- bad signature (forged, or body tampered) -> 403;
- timestamp outside ``tolerance`` seconds of now, or a signature already
  accepted (a replay) -> 403;
- signed but not a JSON array of event objects each with ``sg_event_id`` and
  ``event`` -> 400.

Valid events land in ``raw.sendgrid_events``, idempotent on ``sg_event_id``
(SendGrid delivers at least once), then the post is acknowledged with 200. A
signature is remembered as seen only after its events are stored, so a
delivery we failed to store (5xx) can come again. Seen signatures are kept in
memory for the tolerance window only (older timestamps are refused anyway).

Pull (:func:`pull_suppressions`): global unsubscribes, bounces, spam reports,
invalid emails and blocks, paged with ``limit``/``offset``, ``start_time`` as
the cursor (stored per type in ``raw._engagement_cursors``; the last page's
newest ``created`` is the next start, inclusive, duplicates dropped by key).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook

from connectors.engagement_store import EngagementStore, dumps, read_body, respond

SIGNATURE_HEADER = "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE"
TIMESTAMP_HEADER = "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP"
SUPPRESSION_TYPES = ("unsubscribes", "bounces", "spam_reports", "invalid_emails", "blocks")
PAGE_LIMIT = 500


def event_row(event: dict[str, Any]) -> dict[str, Any]:
    """One webhook event -> one ``raw.sendgrid_events`` row (the whole event kept as JSON)."""
    return {
        "sg_event_id": str(event["sg_event_id"]),
        "sg_message_id": event.get("sg_message_id"),
        "event": str(event["event"]),
        "email": (event.get("email") or "").strip().lower() or None,
        "event_timestamp": int(event["timestamp"]) if event.get("timestamp") is not None else None,
        "bounce_type": event.get("type"),
        "reason": event.get("reason"),
        "url": event.get("url"),
        "ferry_key": event.get("ferry_key"),
        "ferry_idempotency_key": event.get("ferry_idempotency_key"),
        "payload_json": dumps(event),
    }


class SendGridEventReceiver:
    """WSGI app for SendGrid's signed event webhook (POST a JSON array of events)."""

    def __init__(
        self,
        store: EngagementStore,
        public_key: str,
        *,
        tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.verifier = EventWebhook(public_key)
        self.tolerance = tolerance
        self.clock = clock
        self._seen: dict[str, float] = {}  # signature -> timestamp, within the tolerance window
        self._lock = threading.RLock()
        self.stats = {"accepted": 0, "rejected": 0, "stored": 0}

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return respond(start_response, 405, "POST only")
        body = read_body(environ)
        if body is None:
            return self._reject(start_response, 413, "body too large")
        signature = environ.get(SIGNATURE_HEADER)
        timestamp = environ.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            return self._reject(start_response, 401, "unsigned")
        try:
            text = body.decode("utf-8")
            valid = self.verifier.verify_signature(text, signature, timestamp)
        except Exception:  # noqa: BLE001 - undecodable body/signature: not something SendGrid signed
            valid = False
        if not valid:
            return self._reject(start_response, 403, "bad signature")
        try:
            age = abs(self.clock() - float(timestamp))
        except ValueError:
            return self._reject(start_response, 403, "bad timestamp")
        if age > self.tolerance:
            return self._reject(start_response, 403, "stale timestamp")
        with self._lock:
            self._forget_old()
            if signature in self._seen:
                return self._reject(start_response, 403, "replayed")
        try:
            events = json.loads(text)
            if not isinstance(events, list) or not all(
                isinstance(e, dict) and e.get("sg_event_id") and e.get("event") for e in events
            ):
                raise ValueError("not an array of events")
            rows = [event_row(e) for e in events]
        except (ValueError, TypeError, KeyError):
            return self._reject(start_response, 400, "malformed body")
        stored = self.store.land("sendgrid_events", rows, ingest_source="webhook")
        with self._lock:
            self._seen[signature] = float(timestamp)
            self.stats["accepted"] += 1
            self.stats["stored"] += stored
        return respond(start_response, 200, f"stored {stored}")

    def _reject(self, start_response: Callable[..., Any], status: int, message: str) -> list[bytes]:
        with self._lock:
            self.stats["rejected"] += 1
        return respond(start_response, status, message)

    def _forget_old(self) -> None:
        horizon = self.clock() - self.tolerance
        for sig in [s for s, t in self._seen.items() if t < horizon]:
            del self._seen[sig]


def pull_suppressions(
    client: Any, store: EngagementStore, types: tuple[str, ...] = SUPPRESSION_TYPES
) -> dict[str, int]:
    """Pull every suppression list since its cursor; returns new rows per type.

    ``client`` is an official ``sendgrid.SendGridAPIClient`` (e.g.
    ``SendGridDestination.client``, whose HTTP goes through the retry layer).
    """
    known = store.cursors("sendgrid.suppression.")
    rows: list[dict[str, Any]] = []
    new_cursors: dict[str, str] = {}
    for kind in types:
        stream = f"sendgrid.suppression.{kind}"
        start = int(known.get(stream) or 0)
        offset, newest = 0, start
        while True:
            response = client.client.suppression._(kind).get(
                query_params={"start_time": start, "limit": PAGE_LIMIT, "offset": offset}
            )
            if response.status_code != 200:
                raise RuntimeError(f"GET /v3/suppression/{kind}: HTTP {response.status_code}")
            page = response.to_dict or []
            for e in page:
                rows.append(
                    {
                        "suppression_type": kind,
                        "email": str(e["email"]).strip().lower(),
                        "created": int(e["created"]),
                        "reason": e.get("reason"),
                        "status": e.get("status"),
                    }
                )
                newest = max(newest, int(e["created"]))
            if len(page) < PAGE_LIMIT:
                break
            offset += PAGE_LIMIT
        new_cursors[stream] = str(newest)
    # rows and every cursor in one transaction: a pull that dies lands nothing and moves nothing
    before = {k: 0 for k in types}
    counts = store.query(
        "select suppression_type, count(*) from raw.sendgrid_suppressions group by 1"
    )
    before.update({k: int(n) for k, n in counts if k in before})
    store.land("sendgrid_suppressions", rows, ingest_source="pull", cursors=new_cursors)
    after = dict(
        store.query("select suppression_type, count(*) from raw.sendgrid_suppressions group by 1")
    )
    return {k: int(after.get(k, 0)) - before[k] for k in types}
