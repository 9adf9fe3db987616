"""An in-memory destination for the engine's tests, with injectable faults.

It plays a vendor that keeps a list (upsert/remove/delete) and a message log
(send, with idempotency keys it can be asked about, like SendGrid custom args or
a Twilio lookup). Faults are decided per call by `fault(call_no, records)`,
returning one of: None, "reject:<keys>", "429", "5xx", "timeout", "kill",
"auth", "lost" (request applied, answer lost: in doubt).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import (
    AuthError,
    Capabilities,
    Operation,
    Outcome,
    Record,
    RecordResult,
    RetryableError,
)


class SimulatedKill(BaseException):
    """The process dies after the destination applied the batch, before the engine commits."""


Fault = Callable[[int, list[Record]], Any]


@dataclass
class LoopbackDestination:
    name: str = "loopback"
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(
            modes=frozenset({"upsert", "mirror", "insert", "send", "delete"}),
            identifiers=frozenset({"email", "phone"}),
            max_batch_records=50,
            max_batch_bytes=20_000,
            max_concurrency=1,
        )
    )
    fault: Fault | None = None
    reject_keys: set[str] = field(default_factory=set)  # always rejected (permanent)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    sends: list[tuple[str, str]] = field(
        default_factory=list
    )  # (idempotency_key, key) per delivered message
    calls: list[list[Record]] = field(default_factory=list)
    reconcile_unsettled: set[str] = field(default_factory=set)  # idempotency keys it cannot look up
    ever_received: set[str] = field(default_factory=set)  # every key that ever arrived in a write

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: dict) -> LoopbackDestination:
        return cls(name=options.get("name", "loopback"))

    def _apply(self, r: Record) -> RecordResult:
        self.ever_received.add(r.key)
        if r.key in self.reject_keys:
            return RecordResult(r.key, Outcome.REJECTED, "invalid contact")
        if r.operation == Operation.UPSERT:
            current = self.members.setdefault(r.key, {})
            current.update(r.payload)
        elif r.operation == Operation.REMOVE:
            self.members.pop(r.key, None)  # removing an absent member succeeds (idempotent)
        elif r.operation == Operation.DELETE:
            self.members.pop(r.key, None)
            self.erased.add(r.key)
        elif r.operation == Operation.SEND:
            self.sends.append((r.idempotency_key or "", r.key))
        return RecordResult(r.key, Outcome.ACCEPTED, destination_id=f"d-{r.key}")

    def write(self, records: list[Record]) -> list[RecordResult]:
        with self._lock:
            self.calls.append(list(records))
            action = self.fault(len(self.calls), records) if self.fault else None
            if action == "auth":
                raise AuthError("HTTP 401")
            if action in ("429", "5xx", "timeout"):
                raise RetryableError(f"gave up after retries ({action})")
            bad: set[str] = set()
            if isinstance(action, str) and action.startswith("reject:"):
                bad = set(action.split(":", 1)[1].split(","))
            results = [
                RecordResult(r.key, Outcome.REJECTED, "rejected by fault")
                if r.key in bad
                else self._apply(r)
                for r in records
            ]
            if action == "kill":
                raise SimulatedKill("killed between request and commit")
            if action == "lost":
                raise RetryableError("read timeout after the request was sent")
            return results

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        with self._lock:
            delivered = {k for k, _ in self.sends}
            out = []
            for r in records:
                if r.idempotency_key in self.reconcile_unsettled:
                    out.append(RecordResult(r.key, Outcome.IN_DOUBT, "lookup unavailable"))
                elif r.idempotency_key in delivered:
                    out.append(RecordResult(r.key, Outcome.ACCEPTED))
                else:
                    out.append(RecordResult(r.key, Outcome.RETRYABLE))
            return out
