"""A reference webhook receiver on 127.0.0.1: verifies Ferry's signature, records batches.

What a customer's endpoint should do, runnable for the demo and tests:

- ``POST /hooks/{name}``: verify ``X-Ferry-Signature`` (HMAC-SHA256 over
  ``"<ts>.<body>"``, timestamp within the tolerance) -> 401 and nothing stored if
  missing, forged, tampered or stale; 400 and nothing stored for a body that is
  not a Ferry batch;
- dedupe on ``X-Ferry-Batch-Id`` (a retried batch is acknowledged, not stored
  twice) and, for ``send`` records, on ``idempotency_key``;
- answer 200 with ``{"results": [...]}`` naming per-record rejections (armed by
  tests through ``faults.reject(key)``);
- 429 with ``Retry-After`` past a configurable rate (the base's rate limiter).

``state.batches`` lists accepted batches; ``state.records`` the latest payload
per key (removed on ``remove``/``delete``); ``state.sends`` the delivered sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from connectors.sandbox import Request, Response, SandboxServer
from connectors.webhook.signing import BATCH_ID_HEADER, SIGNATURE_HEADER, SignatureError, verify

OPERATIONS = frozenset({"upsert", "remove", "delete", "send"})


@dataclass
class ReceiverState:
    batches: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    sends: dict[str, dict[str, Any]] = field(default_factory=dict)  # idempotency_key -> record
    duplicates: int = 0
    rejected_requests: int = 0


class WebhookReceiver(SandboxServer):
    vendor = "webhook"

    def __init__(self, *, secret: str, tolerance: float = 300.0, signature_header: str = SIGNATURE_HEADER) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance = tolerance
        self.signature_header = signature_header
        self.state = ReceiverState()
        self.route("POST", "/hooks/{name}", self._receive)

    def url(self, name: str = "ferry") -> str:
        return f"{self.base_url}/hooks/{name}"

    def authenticate(self, request: Request) -> Response | None:
        try:
            verify(self.secret, request.header(self.signature_header), request.body,
                   now=self.clock(), tolerance=self.tolerance)
        except SignatureError as exc:
            with self.lock:
                self.state.rejected_requests += 1
            return self.error_response(401, str(exc), request)
        return None

    def _receive(self, request: Request) -> Response:
        try:
            batch = json.loads(request.body)
        except ValueError:
            self.state.rejected_requests += 1
            return self.error_response(400, "body is not JSON", request)
        records = batch.get("records") if isinstance(batch, dict) else None
        batch_id = request.header(BATCH_ID_HEADER)
        if (
            not isinstance(records, list)
            or not batch_id
            or batch.get("batch_id") != batch_id
            or not all(isinstance(r, dict) and isinstance(r.get("key"), str) and r.get("operation") in OPERATIONS
                       and isinstance(r.get("payload"), dict) for r in records)
        ):
            self.state.rejected_requests += 1
            return self.error_response(400, "not a Ferry batch", request)
        if any(b["batch_id"] == batch_id for b in self.state.batches):
            self.state.duplicates += 1
            return Response.json({"results": [], "duplicate": True})
        results = []
        for r in records:
            reason = self.faults.rejection_for(r["key"])
            if reason:
                results.append({"key": r["key"], "status": "rejected", "error": reason})
                continue
            op = r["operation"]
            if op == "upsert":
                self.state.records[r["key"]] = r["payload"]
            elif op in ("remove", "delete"):
                self.state.records.pop(r["key"], None)
            elif op == "send":
                ikey = r.get("idempotency_key") or f"{batch_id}:{r['key']}"
                if ikey in self.state.sends:
                    self.state.duplicates += 1
                else:
                    self.state.sends[ikey] = r
        self.state.batches.append(batch)
        return Response.json({"results": results})


_LOCAL: WebhookReceiver | None = None


def local_receiver() -> WebhookReceiver:
    """The process-wide receiver a webhook destination posts to when no URL is set."""
    global _LOCAL
    if _LOCAL is None:
        import secrets

        _LOCAL = WebhookReceiver(secret=secrets.token_hex(24)).start()  # type: ignore[assignment]
    return _LOCAL  # type: ignore[return-value]


def _standalone() -> tuple[WebhookReceiver, dict[str, str]]:
    import secrets

    sb = WebhookReceiver(secret=secrets.token_hex(24)).start()
    return sb, {"FERRY_WEBHOOK_URL": sb.url(), "FERRY_WEBHOOK_SECRET": sb.secret}  # type: ignore[attr-defined]


def main() -> None:  # pragma: no cover - a manual/demo entry point
    """Serve the sandbox on 127.0.0.1 until interrupted; print how to point Ferry at it."""
    import json as _json
    import signal
    import threading

    server = _standalone()
    print(_json.dumps(server[1]), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server[0].stop()


if __name__ == "__main__":  # pragma: no cover
    main()
