"""Generic webhook destination: signed JSON batches POSTed to a URL.

Wire contract (what a receiver implements; :mod:`connectors.webhook.sandbox` is
a reference receiver):

- ``POST <url>``, ``Content-Type: application/json``, body::

      {"batch_id": "...", "destination": "<name>", "sync": "<sync>" | null, "sent_at": "<ISO-8601 UTC>",
       "records": [{"key": "...", "operation": "upsert|remove|delete|send",
                    "idempotency_key": "..." | null, "payload": {...}}, ...]}

- ``X-Ferry-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>`` (see
  :mod:`connectors.webhook.signing`) and ``X-Ferry-Batch-Id`` (the same id as in
  the body: a retried batch carries the same id, so receivers can dedupe).
- Answer 2xx to accept. Optionally a JSON body ``{"results": [{"key": ...,
  "status": "accepted|rejected|retryable", "error": ...}]}`` reports per-record
  outcomes; records it does not mention are accepted. 429/5xx are retried by the
  one HTTP layer (honouring ``Retry-After``); other 4xx reject the batch's records.

``batch_id`` is new for each batch and kept across the HTTP layer's retries of
it, so a receiver drops a retried duplicate; a later run re-sending the same
people is a new batch (an upsert/remove/upsert sequence must not be deduped away).
Send-mode duplicates across runs are caught by ``idempotency_key``.
Payloads go to the receiver as mapped (this is the customer's own endpoint); only
counts and statuses are logged, never payloads, URLs' query strings or secrets.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import (
    AuthError,
    BatchAccepted,
    Capabilities,
    JsonBatch,
    MissingCredentials,
    Operation,
    Outcome,
    Record,
    RecordResult,
    RetryableError,
    identity,
    sandbox_chosen,
    target_host,
)
from connectors.http import HttpClient
from connectors.json_columns import concat_text, json_default, json_text
from connectors.webhook.signing import BATCH_ID_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

_OPERATION_VALUES = tuple(o.value for o in Operation)


class WebhookOptions(BaseModel):
    """Options of a ``type: webhook`` destination in dbt_project/destinations.yml."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, pattern=r"^https?://")  # none: error, or the local receiver if chosen
    sandbox: bool | None = None  # true: the local reference receiver; default: FERRY_SANDBOX
    secret: str | None = Field(None, min_length=16)  # required with a url
    name: str = "webhook"
    sync: str | None = None  # the sync posting through this destination, sent in the envelope
    identifiers: tuple[str, ...] = ("profile_id", "customer_id", "email", "phone", "external_id", "anonymous_id")
    signature_header: str = SIGNATURE_HEADER
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. a receiver's own auth header
    max_batch_records: int = Field(500, ge=1, le=10_000)
    max_batch_bytes: int = Field(1_000_000, ge=1_000)
    max_requests_per_second: float | None = 10.0
    # Batches in flight at once: a receiver 150 ms away caps one-at-a-time at ~7 a second.
    max_concurrency: int = Field(4, ge=1, le=64)
    timeout: float = 30.0
    max_attempts: int = 6
    backoff_initial: float = 0.5


class WebhookDestination:
    """A :class:`connectors.base.Destination` POSTing signed JSON batches."""

    options_model = WebhookOptions  # checked when syncs load (syncs.registry.option_errors)

    name = "webhook"
    takes_sync_name = True  # the sync registry passes options["sync"]: named in every batch

    def __init__(self, options: WebhookOptions) -> None:
        self.is_sandbox = bool(options.sandbox) or options.url is None
        if self.is_sandbox and not sandbox_chosen(options.sandbox):
            missing = {"url": "FERRY_WEBHOOK_URL"}
            if not options.secret:
                missing["secret"] = "FERRY_WEBHOOK_SECRET"
            raise MissingCredentials(f"{options.name!r} (type webhook)", missing)
        if self.is_sandbox:
            from connectors.webhook.sandbox import local_receiver

            receiver = local_receiver()
            options = options.model_copy(update={"url": receiver.url(options.name), "secret": receiver.secret})
        elif not options.secret:
            raise ValueError("destination type webhook, options: secret: required with a url (>= 16 characters)")
        self.options = options
        self.name = options.name
        self.capabilities = Capabilities(
            modes=frozenset({"upsert", "mirror", "insert", "send", "delete"}),
            identifiers=frozenset(options.identifiers),  # the receiver decides what keys mean
            max_batch_records=options.max_batch_records,
            max_batch_bytes=options.max_batch_bytes,
            max_requests_per_second=options.max_requests_per_second,
            max_concurrency=options.max_concurrency,
        )
        split = urlsplit(options.url or "")
        self._path = split.path or "/"
        self._shown_path = self._path  # a query string may carry a receiver token: never shown
        if split.query:
            self._path += "?" + split.query
        host = split.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if split.port:
            netloc += f":{split.port}"
        self.http = HttpClient(
            # user:password@ in the URL becomes basic auth, so the logged base URL holds no secret
            base_url=f"{split.scheme}://{netloc}",
            auth=(split.username, split.password or "") if split.username else None,
            headers={"Content-Type": "application/json", **options.headers},
            timeout=options.timeout,
            max_attempts=options.max_attempts,
            backoff_initial=options.backoff_initial,
        )

    @property
    def target_label(self) -> str:
        return "sandbox" if self.is_sandbox else target_host(self.options.url or "")

    @property
    def rate_limit_scope(self) -> str:
        """A receiver's Retry-After speaks for its host, whichever path a sync posts to."""
        if self.is_sandbox:
            return identity("webhook", "sandbox")
        split = urlsplit(self.options.url or "")
        return f"webhook:{split.scheme}://{target_host(self.options.url or '')}"

    @property
    def destination_identity(self) -> str:
        """``webhook:<scheme://host[:port]/path>``: no query string or user info (they may hold tokens)."""
        if self.is_sandbox:
            return identity("webhook", "sandbox", self.options.name)
        split = urlsplit(self.options.url or "")
        return f"webhook:{split.scheme}://{target_host(self.options.url or '')}{self._shown_path}"

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> WebhookDestination:
        try:
            return cls(WebhookOptions.model_validate(options))
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"destination type webhook, options: {details}") from None

    def body(self, records: list[Record]) -> tuple[str, bytes]:
        items = [
            {"key": r.key, "operation": r.operation.value, "idempotency_key": r.idempotency_key,
             "payload": {} if r.operation is Operation.DELETE else dict(r.payload)}
            for r in records
        ]
        batch_id = f"{self.name}-{uuid.uuid4().hex}"
        envelope = {
            "batch_id": batch_id,
            "destination": self.name,
            "sync": self.options.sync,
            "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "records": items,
        }
        return batch_id, json.dumps(envelope, default=json_default, separators=(",", ":")).encode("utf-8")

    def _envelope_head(self, batch_id: str) -> bytes:
        envelope = {
            "batch_id": batch_id,
            "destination": self.name,
            "sync": self.options.sync,
            "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        return (json.dumps(envelope, default=json_default, separators=(",", ":"))[:-1] + ',"records":[').encode()

    def json_body(self, batch: JsonBatch) -> tuple[str, bytes]:
        """The same envelope as `body`, its records written column-wise from the batch's
        JSON payloads (no Python object per record)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ops = batch.operations
        deletes = pc.equal(ops, Operation.DELETE.value)
        payloads = pc.if_else(deletes, "{}", batch.payloads) if pc.any(deletes).as_py() else batch.payloads
        idem = batch.idempotency_keys
        # Operation values are plain ASCII words: quoted here, not escaped (checked: anything
        # else is a fault of this batch). Each item ends with the separator; concat_text
        # drops the last one.
        if not pc.all(pc.is_in(ops, value_set=pa.array(_OPERATION_VALUES))).as_py():
            raise ValueError(f"webhook {self.name}: an operation that is not one of {_OPERATION_VALUES}")
        if idem is None or idem.null_count == len(idem):
            parts = [',"operation":"', ops, '","idempotency_key":null,"payload":']
        else:
            idem_text = pc.fill_null(json_text(idem), "null")
            parts = [',"operation":"', ops, '","idempotency_key":', idem_text, ',"payload":']
        items = pc.binary_join_element_wise('{"key":', json_text(batch.keys), *parts, payloads, "},", "")
        batch_id = f"{self.name}-{uuid.uuid4().hex}"
        return batch_id, concat_text(items, self._envelope_head(batch_id), b"]}", drop_last=1)

    def write_json(self, batch: JsonBatch) -> list[RecordResult] | BatchAccepted:
        """`write` for a batch whose payloads are JSON text already (connectors.base.JsonBatch):
        the whole batch accepted comes back as BatchAccepted (the batch id as every record's
        destination id); any per-record answer falls back to the records."""
        if not len(batch):
            return []
        batch_id, body = self.json_body(batch)
        response = self._post(batch_id, body, len(batch))
        if response.status_code < 400 and not self._per_record(response):
            return BatchAccepted(destination_id=batch_id)
        return self._results(batch.records(), batch_id, response)

    def write(self, records: list[Record]) -> list[RecordResult]:
        """POST one signed batch; per-record results from the receiver's answer if it gives them.

        DELETE (erasure) records carry only the key: the receiver erases by key and
        no personal data travels for a person being forgotten.
        """
        if not records:
            return []
        batch_id, body = self.body(records)
        return self._results(records, batch_id, self._post(batch_id, body, len(records)))

    def _post(self, batch_id: str, body: bytes, count: int) -> requests.Response:
        headers = {self.options.signature_header: sign(self.options.secret or "", body), BATCH_ID_HEADER: batch_id}
        try:
            response = self.http.request("POST", self._path, data=body, headers=headers)
        except AuthError as exc:
            raise AuthError(str(exc).replace(self._path, self._shown_path)) from None
        except (RetryableError, requests.RequestException) as exc:
            # The retry budget is spent (or the connection failed in a way the HTTP layer
            # does not retry): the whole batch stays pending and the engine stops the run
            # here instead of spending another budget on every later batch. The receiver
            # may have stored the batch; a resend is safe (upserts are idempotent, sends
            # dedupe on idempotency_key).
            log.info("webhook %s: batch of %d pending (%s)", self.name, count, type(exc).__name__)
            reason = str(exc).replace(self._path, self._shown_path)[:200]
            raise RetryableError(f"webhook {self.name}: {reason}") from None
        return response

    @staticmethod
    def _per_record(response: requests.Response) -> dict[str, dict[str, Any]]:
        """The receiver's per-record outcomes (key -> item), if its answer gives any."""
        per_record: dict[str, dict[str, Any]] = {}
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        for item in (answer.get("results") or []) if isinstance(answer, dict) else []:
            if isinstance(item, dict) and "key" in item:
                per_record[str(item["key"])] = item
        return per_record

    def _results(self, records: list[Record], batch_id: str, response: requests.Response) -> list[RecordResult]:
        if response.status_code >= 400:
            reason = f"webhook answered HTTP {response.status_code}"
            return [RecordResult(r.key, Outcome.REJECTED, reason) for r in records]
        per_record = self._per_record(response)
        outcomes = {"accepted": Outcome.ACCEPTED, "rejected": Outcome.REJECTED, "retryable": Outcome.RETRYABLE}
        results = []
        for r in records:
            item = per_record.get(r.key)
            outcome = outcomes.get(str(item.get("status", "accepted")).lower(), Outcome.REJECTED) if item else Outcome.ACCEPTED
            error = str(item.get("error"))[:200] if item and item.get("error") else None
            results.append(RecordResult(r.key, outcome, error, destination_id=batch_id))
        return results

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """The receiver contract requires deduplication on ``idempotency_key`` (send) and
        ``X-Ferry-Batch-Id``; there is no lookup API, so in-doubt records are resent
        (RETRYABLE) and the receiver drops the duplicates."""
        return [RecordResult(r.key, Outcome.RETRYABLE) for r in records]
