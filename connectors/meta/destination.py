"""Meta custom audiences: add/remove hashed users, full replace via sessions, size back.

Contract followed (../shared/api/meta.md and Meta's Marketing API reference for
``/{custom_audience_id}/users`` and ``/usersreplace``):

- ``POST`` (add) / ``DELETE`` (remove) ``/{audience_id}/users`` with form fields
  ``payload={"schema": [...], "data": [[...], ...]}``: at most 10,000 users per
  request; a multi-key schema, the same for every row, ``""`` where a person
  lacks a key. Answer: ``num_received``, ``num_invalid_entries``,
  ``invalid_entry_samples`` (a map ``invalid value -> reason``).
- ``POST /{audience_id}/usersreplace`` with ``session = {session_id, batch_seq,
  last_batch_flag, estimated_num_total}``: a fresh full mirror without emptying the
  audience first (it keeps serving during the replace).
- ``GET /{audience_id}?fields=approximate_count_lower_bound,...``: the size.
- Errors: ``{"error": {"code", "error_subcode", "message", "type", "fbtrace_id"}}``.
  Codes 4, 17, 32, 613 (and the ads-account/custom-audience throttles 80003,
  80004, plus anything flagged ``is_transient``) are rate limits: retried by the
  one HTTP layer through its ``is_retryable`` hook. 190 (bad token) and 200/294
  (permissions) stop the run as :class:`AuthError`. A flagged audience (error
  100 with subcode 1713230 on a write, or ``operation_status`` 471 on a read: since
  September 2025 Meta flags audiences that suggest information its terms forbid)
  stops the run as :class:`DestinationStopped` with Meta's reason: every record
  would fail the same way, and the fix is a human's (edit the audience, request a
  review). Other errors reject the request's records.

Only SHA-256 hashes leave (MADID/EXTERN_ID excepted, per Meta); a record with no
usable identifier is rejected locally and never sent. The token travels in the
form body (POST/DELETE, like Meta's own examples) or an ``Authorization: Bearer``
header (GET), never in a URL, so no access log can capture it.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors import hashing
from connectors.base import (
    AuthError,
    Capabilities,
    DestinationStopped,
    MissingCredentials,
    Operation,
    Outcome,
    Record,
    RecordResult,
    RejectedError,
    RetryableError,
    fingerprint,
    identity,
    identity_where,
    sandbox_chosen,
    target_host,
)
from connectors.http import HttpClient

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.facebook.com"
DEFAULT_VERSION = "v25.0"  # Graph API versions live ~2 years; override with api_version
MAX_USERS_PER_REQUEST = 10_000  # Meta: "only up to 10000 at a time"
MIN_AUDIENCE_SIZE = 100  # below ~100 matched people an audience cannot deliver
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80003, 80004})
AUTH_CODES = frozenset({102, 190, 200, 294})
FLAGGED_SUBCODE = 1713230  # with code 100: the audience is flagged, no change accepted
FLAGGED_OPERATION_STATUS = 471  # operation_status.code of a flagged audience
BUSY_CODES = frozenset({2650})  # "Failed to update the custom audience" (e.g. a replace in progress)
# Schema order when derived from the payload keys a batch carries (FI only on request:
# it adds little next to FN).
DERIVED_ORDER = ("EMAIL", "PHONE", "FN", "LN", "GEN", "DOBY", "DOBM", "DOBD", "CT", "ST", "ZIP", "COUNTRY",
                 "MADID", "EXTERN_ID")

IDENTIFIERS = frozenset(
    {"email", "phone", "first_name", "last_name", "gender", "birth_date", "city", "state",
     "postcode", "country", "madid", "external_id"}
)  # fmt: skip


class MetaOptions(BaseModel):
    """Options of a ``type: meta`` destination in dbt_project/destinations.yml."""

    model_config = ConfigDict(extra="forbid")

    audience_id: str | None = Field(None, min_length=1)  # none with no token: the sandbox's audience
    access_token: str | None = Field(None, min_length=1)  # none: error, or the sandbox if chosen
    sandbox: bool | None = None  # true: the local sandbox; default: FERRY_SANDBOX
    base_url: str | None = None  # default https://graph.facebook.com
    api_version: str = DEFAULT_VERSION
    # Meta keys to send; default: every key the sync maps (see DERIVED_ORDER).
    schema_keys: tuple[str, ...] | None = Field(None, alias="schema")
    default_country: str | None = None  # supplies a phone's country code when the profile has none
    max_users_per_request: int = Field(MAX_USERS_PER_REQUEST, ge=1, le=MAX_USERS_PER_REQUEST)
    # Requests in flight at once: adds and removes of distinct people are independent
    # set operations; Meta throttles by its rate-limit codes, which hold every request.
    max_concurrency: int = Field(4, ge=1, le=16)
    timeout: float = 30.0
    max_attempts: int = 6
    backoff_initial: float = 0.5

    @field_validator("schema_keys")
    @classmethod
    def _known_keys(cls, keys: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if keys is None:
            return None
        unknown = [k for k in keys if k not in hashing.META_KEYS]
        if unknown or not keys:
            raise ValueError(f"unknown Meta schema keys {unknown}; use {sorted(hashing.META_KEYS)}")
        return tuple(keys)


@dataclass(frozen=True)
class AudienceSize:
    """Meta's approximate size; usable as a match rate against what we uploaded."""

    audience_id: str
    lower_bound: int
    upper_bound: int
    operation_status: int | None
    operation_description: str | None
    pulled_at: float

    def match_rate(self, uploaded: int) -> float | None:
        """Share of uploaded people Meta matched (lower bound: never overstated)."""
        if uploaded <= 0 or self.lower_bound < 0:
            return None
        return min(1.0, self.lower_bound / uploaded)

    @property
    def deliverable(self) -> bool:
        return self.lower_bound >= MIN_AUDIENCE_SIZE


def meta_error(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def flagged_reason(error: Mapping[str, Any], status: int) -> str | None:
    """Meta's reason when the error says the audience is flagged, else None."""
    if error.get("code") == 100 and error.get("error_subcode") == FLAGGED_SUBCODE:
        return _describe(error, status)
    return None


def is_rate_limited(response: requests.Response) -> bool:
    """HttpClient hook: Meta signals throttling in the error body, usually with HTTP 400."""
    if response.status_code < 400:
        return False
    error = meta_error(response)
    return error.get("code") in RATE_LIMIT_CODES or error.get("is_transient") is True


def _describe(error: Mapping[str, Any], status: int) -> str:
    """A log/result-safe description: code, subcode, type and message (Meta's messages hold no PII)."""
    code = error.get("code")
    sub = error.get("error_subcode")
    msg = str(error.get("message", ""))[:200]
    return f"meta error {code}{'/' + str(sub) if sub else ''} (HTTP {status}): {msg}"


class MetaCustomAudience:
    """A :class:`connectors.base.Destination` for one Meta custom audience."""

    options_model = MetaOptions  # checked when syncs load (syncs.registry.option_errors)

    name = "meta"
    capabilities = Capabilities(
        modes=frozenset({"upsert", "mirror", "insert", "delete"}),
        identifiers=IDENTIFIERS,
        max_batch_records=MAX_USERS_PER_REQUEST,
        # Meta documents no byte cap for /users; a 10,000-row multi-key payload is a few MB.
        max_batch_bytes=None,
        # Meta throttles by business-use-case score, not a fixed rate; this is our pace.
        max_requests_per_second=5.0,
        max_concurrency=1,
        min_audience_size=MIN_AUDIENCE_SIZE,
        hashes_identifiers=True,
    )

    def __init__(self, options: MetaOptions, *, sleep: Any = time.sleep) -> None:
        from connectors.meta import sandbox

        self.is_sandbox = bool(options.sandbox) or not options.access_token
        if self.is_sandbox and not sandbox_chosen(options.sandbox):
            missing = {"access_token": "META_ACCESS_TOKEN"}
            if not options.audience_id:
                missing["audience_id"] = "META_AUDIENCE_ID"
            raise MissingCredentials("'meta' (type meta)", missing)
        if options.access_token == sandbox.MetaSandbox.DEFAULT_TOKEN:
            self.is_sandbox = True  # a sandbox instance named by its URL and token
        self._local = self.is_sandbox and not options.base_url
        if self.is_sandbox:
            # The local sandbox (a standalone one if base_url points at it).
            base_url = options.base_url or sandbox.local_sandbox().base_url
            options = options.model_copy(update={
                "access_token": sandbox.MetaSandbox.DEFAULT_TOKEN,
                "audience_id": options.audience_id or sandbox.SANDBOX_AUDIENCE_ID,
                "base_url": base_url,
            })
        elif not options.audience_id:
            raise ValueError("destination type meta, options: audience_id: required with an access_token")
        self.options = options
        self.audience_id: str = options.audience_id or ""
        self.fixed_schema = list(options.schema_keys) if options.schema_keys else None
        self.schema: list[str] = self.fixed_schema or []
        self.last_audience_size: AudienceSize | None = None
        self.http = HttpClient(
            base_url=f"{(options.base_url or GRAPH_URL).rstrip('/')}/{options.api_version}",
            timeout=options.timeout,
            max_attempts=options.max_attempts,
            backoff_initial=options.backoff_initial,
            sleep=sleep,
            is_retryable=is_rate_limited,
        )
        # One engine batch is one request (the engine keeps several in flight).
        self.capabilities = replace(
            type(self).capabilities,
            max_batch_records=options.max_users_per_request,
            max_concurrency=options.max_concurrency,
        )

    @property
    def target_label(self) -> str:
        return "sandbox" if self.is_sandbox else target_host(self.options.base_url or GRAPH_URL)

    @property
    def rate_limit_scope(self) -> str:
        """Meta rate-limits the app user behind the token across its audiences, not each audience."""
        where = identity_where(self.options.base_url or GRAPH_URL, self.is_sandbox, self._local)
        return identity("meta", where, f"token={fingerprint(self.options.access_token or '')}")

    @property
    def destination_identity(self) -> str:
        """``meta:<host>:audience=<id>``: custom audience ids are unique across ad accounts."""
        where = identity_where(self.options.base_url or GRAPH_URL, self.is_sandbox, self._local)
        return identity("meta", where, f"audience={self.audience_id}")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> MetaCustomAudience:
        try:
            parsed = MetaOptions.model_validate(options)
        except ValidationError as exc:
            raise ValueError(f"destination type meta, options: {_errors(exc)}") from None
        return cls(parsed)

    # ----- rows

    def schema_for(self, records: list[Record]) -> list[str]:
        """The configured schema, else the Meta keys whose payload key any record carries."""
        if self.fixed_schema:
            return self.fixed_schema
        present = {k for r in records for k, v in r.payload.items() if v not in (None, "")}
        schema = [k for k in DERIVED_ORDER if hashing.META_KEYS[k] in present]
        return schema or ["EMAIL"]

    def row(self, record: Record, schema: list[str]) -> list[str]:
        """One data row in schema order: hashes (or "" where the person lacks the key)."""
        payload = dict(record.payload)
        return [hashing.meta_value(k, payload, self.options.default_country) for k in schema]

    def _rows(
        self, records: list[Record]
    ) -> tuple[list[str], list[tuple[Record, list[str]]], list[RecordResult]]:
        """The batch's schema and its rows, local rejections apart.

        The schema is the batch's own (returned, not kept on the instance for the
        request): concurrent batches may carry different keys. ``self.schema`` shows
        the last one built, for callers that read it after a write.
        """
        schema = self.schema = self.schema_for(records)
        ready: list[tuple[Record, list[str]]] = []
        rejected: list[RecordResult] = []
        for record in records:
            row = self.row(record, schema)
            if any(row):
                ready.append((record, row))
            else:
                rejected.append(
                    RecordResult(record.key, Outcome.REJECTED, f"no usable identifier for schema {schema}")
                )
        return schema, ready, rejected

    def _chunks(self, items: list[Any]) -> Iterator[list[Any]]:
        size = self.options.max_users_per_request
        for start in range(0, len(items), size):
            yield items[start : start + size]

    # ----- requests

    def _post_form(self, method: str, path: str, fields: dict[str, Any]) -> requests.Response:
        data = {k: json.dumps(v, separators=(",", ":")) for k, v in fields.items()}
        data["access_token"] = self.options.access_token or ""
        return self.http.request(method, path, data=data)

    def _results(
        self, chunk: list[tuple[Record, list[str]]], response: requests.Response
    ) -> list[RecordResult]:
        if response.status_code >= 400:
            error = meta_error(response)
            if error.get("code") in AUTH_CODES:
                raise AuthError(_describe(error, response.status_code))
            flagged = flagged_reason(error, response.status_code)
            if flagged:
                raise DestinationStopped(f"meta audience {self.audience_id} is flagged: {flagged}")
            reason = _describe(error, response.status_code)
            outcome = Outcome.RETRYABLE if error.get("code") in BUSY_CODES else Outcome.REJECTED
            return [RecordResult(r.key, outcome, reason) for r, _ in chunk]
        body = response.json()
        samples = body.get("invalid_entry_samples") or {}
        if isinstance(samples, list):  # seen in the wild: a list of values without reasons
            samples = {str(v): "invalid entry" for v in samples}
        results = []
        for record, row in chunk:
            bad = next((v for v in row if v and v in samples), None)
            if bad is not None:
                results.append(RecordResult(record.key, Outcome.REJECTED, f"meta invalid entry: {samples[bad]}"))
            else:
                results.append(RecordResult(record.key, Outcome.ACCEPTED, destination_id=self.audience_id))
        unmapped = int(body.get("num_invalid_entries") or 0) - sum(r.outcome is Outcome.REJECTED for r in results)
        if unmapped > 0:
            # Meta samples only some invalid rows; the rest cannot be tied to records.
            log.warning("meta audience %s: %d invalid entries not identified", self.audience_id, unmapped)
        return results

    def _send(self, method: str, records: list[Record]) -> list[RecordResult]:
        schema, ready, results = self._rows(records)
        path = f"/{self.audience_id}/users"
        chunks = list(self._chunks(ready))
        for index, chunk in enumerate(chunks):
            payload = {"schema": schema, "data": [row for _, row in chunk]}
            try:
                response = self._post_form(method, path, {"payload": payload})
            except (RetryableError, requests.RequestException) as exc:
                # Retry budget spent (throttled or down): this chunk and the rest stay
                # pending; chunks already answered keep their results.
                for pending in chunks[index:]:
                    results.extend(RecordResult(r.key, Outcome.RETRYABLE, str(exc)) for r, _ in pending)
                break
            results.extend(self._results(chunk, response))
        return results

    # ----- the Destination protocol

    def write(self, records: list[Record]) -> list[RecordResult]:
        """Add (UPSERT) and remove (REMOVE, and DELETE: Meta has no per-person erase) users.

        When the HTTP layer gives up (throttled or down), the unsent chunks come back
        RETRYABLE; adds and removes are idempotent at Meta, so resending is safe.
        :class:`AuthError` propagates: the run stops.
        """
        adds: list[Record] = []
        removes: list[Record] = []
        results: list[RecordResult] = []
        for r in records:
            if r.operation is Operation.UPSERT:
                adds.append(r)
            elif r.operation in (Operation.REMOVE, Operation.DELETE):
                removes.append(r)
            else:
                results.append(RecordResult(r.key, Outcome.REJECTED, f"meta does not support {r.operation.value}"))
        if adds:
            results += self._send("POST", adds)
        if removes:
            results += self._send("DELETE", removes)
        return results

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Nothing to look up: adds/removes are idempotent set operations at Meta, and
        there is no send mode, so any in-doubt record is simply safe to resend."""
        return [RecordResult(r.key, Outcome.RETRYABLE) for r in records]

    def replace_all(self, records: list[Record], session_id: int | None = None) -> list[RecordResult]:
        """Fresh full mirror through ``/usersreplace`` sessions (all records are the new audience).

        Refuses an empty or all-invalid extract: Meta would replace the audience with
        nobody, and "never treat a small or empty extract as remove everyone".
        If a batch fails mid-session the remaining batches are not sent and stay
        RETRYABLE; Meta abandons an unfinished session and the audience keeps its
        previous members, so the next run starts a new session.
        """
        schema, ready, results = self._rows(records)
        if not ready:
            raise RejectedError("refusing a full replace with no usable records")
        if len(ready) < MIN_AUDIENCE_SIZE:
            log.warning("meta audience %s: replacing with %d people, below Meta's floor", self.audience_id, len(ready))
        session_id = session_id if session_id is not None else secrets.randbits(52)
        chunks = list(self._chunks(ready))
        path = f"/{self.audience_id}/usersreplace"
        for seq, chunk in enumerate(chunks, start=1):
            session = {
                "session_id": session_id,
                "batch_seq": seq,
                "last_batch_flag": seq == len(chunks),
                "estimated_num_total": len(ready),
            }
            payload = {"schema": schema, "data": [row for _, row in chunk]}
            try:
                response = self._post_form("POST", path, {"payload": payload, "session": session})
            except (RetryableError, requests.RequestException) as exc:
                for later in chunks[seq - 1 :]:
                    results.extend(RecordResult(r.key, Outcome.RETRYABLE, f"replace session aborted: {type(exc).__name__}") for r, _ in later)
                return results
            chunk_results = self._results(chunk, response)
            results.extend(chunk_results)
            if response.status_code >= 400:
                for later in chunks[seq:]:
                    results.extend(RecordResult(r.key, Outcome.RETRYABLE, "replace session aborted") for r, _ in later)
                return results
        return results

    def pull_audience_size(self) -> AudienceSize:
        """Read Meta's approximate size (and record it on ``last_audience_size``).

        A flagged audience (``operation_status`` 471) raises :class:`DestinationStopped`
        with Meta's description, after recording the size."""
        fields = "approximate_count_lower_bound,approximate_count_upper_bound,operation_status"
        response = self.http.request(
            "GET",
            f"/{self.audience_id}",
            params={"fields": fields},
            headers={"Authorization": f"Bearer {self.options.access_token}"},
        )
        if response.status_code >= 400:
            error = meta_error(response)
            if error.get("code") in AUTH_CODES:
                raise AuthError(_describe(error, response.status_code))
            raise RejectedError(_describe(error, response.status_code))
        body = response.json()
        status = body.get("operation_status") or {}
        size = AudienceSize(
            audience_id=str(body.get("id", self.audience_id)),
            lower_bound=int(body.get("approximate_count_lower_bound", -1)),
            upper_bound=int(body.get("approximate_count_upper_bound", -1)),
            operation_status=status.get("code"),
            operation_description=status.get("description"),
            pulled_at=time.time(),
        )
        self.last_audience_size = size
        if size.operation_status == FLAGGED_OPERATION_STATUS:
            raise DestinationStopped(
                f"meta audience {self.audience_id} is flagged (operation_status 471): "
                f"{size.operation_description or 'no description'}"
            )
        return size


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
