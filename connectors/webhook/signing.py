"""HMAC-SHA256 signatures for Ferry's outgoing webhooks (sender and receiver side).

Header (Stripe-style, so receivers can reuse familiar code)::

    X-Ferry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is signed with the body, so a captured request cannot be replayed
outside the tolerance window; receivers also dedupe on ``X-Ferry-Batch-Id``.
Several ``v1=`` entries may appear during a secret rotation; any match passes.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Ferry-Signature"
BATCH_ID_HEADER = "X-Ferry-Batch-Id"
DEFAULT_TOLERANCE = 300.0


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode("utf-8"), f"{ts}.".encode(), hashlib.sha256)
    mac.update(body)  # not prefix + body: that copied every (megabyte) body once more
    return f"t={ts},v1={mac.hexdigest()}"


class SignatureError(ValueError):
    """Missing, malformed, forged or stale signature."""


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None,
           tolerance: float = DEFAULT_TOLERANCE) -> int:
    """Check a signature header; returns its timestamp or raises :class:`SignatureError`."""
    if not header:
        raise SignatureError("missing signature")
    ts: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                ts = int(value)
            except ValueError:
                raise SignatureError("malformed timestamp") from None
        elif key == "v1" and value:
            candidates.append(value)
    if ts is None or not candidates:
        raise SignatureError("malformed signature")
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance:
        raise SignatureError("timestamp outside tolerance")
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature mismatch")
    return ts
