"""SendGrid destination: marketing contacts in a list, removal, erasure, transactional sends.

Built on the official ``sendgrid`` package (URL building, auth headers, the
``Mail`` helper), with its HTTP routed through Ferry's one retry layer (see
:mod:`connectors.sendgrid.transport`). Operations:

- UPSERT: ``PUT /v3/marketing/contacts`` into the configured list, batched
  within 30,000 contacts and 6 MB; mapped fields that are not SendGrid reserved
  fields become custom fields, created on first use through
  ``/v3/marketing/field_definitions`` and addressed by id. The import job is
  polled until it leaves ``pending``; per-contact errors (synchronous 400
  ``contacts[i].*`` fields, or the job's errors file) are mapped back to records.
- REMOVE (mirror): search by email (100 a call) -> contact ids ->
  ``DELETE /v3/marketing/lists/{id}/contacts`` (100 ids a call); accepted on 202
  (SendGrid documents no status endpoint for list-removal jobs).
- DELETE (erasure): search -> ids -> ``DELETE /v3/marketing/contacts?ids=``,
  the deletion job polled through Import Contacts Status;
  ``delete_all_contacts`` is never sent (ids are checked non-empty).
- SEND: one ``POST /v3/mail/send`` per record, the idempotency key and the
  record key in ``custom_args`` (they come back on every event), plus every
  payload key starting with ``ferry_`` (the engine's sync/audience/variant
  attribution) and the static ``custom_args`` option. A send is never retried
  blindly: only a 429 proves nothing was sent (the HTTP layer tries it again while
  the rate-limit window opens soon, then RETRYABLE); a timeout,
  a dropped connection or a 5xx make the record IN_DOUBT, settled by
  :meth:`SendGridDestination.reconcile`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sendgrid.helpers.mail import CustomArg, From, Mail, To

from connectors.base import (
    REPLACED_IDENTIFIERS,
    AuthError,
    Capabilities,
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
from connectors.sendgrid.sandbox import (
    MAX_IDS_PER_DELETE,
    MAX_SEARCH_EMAILS,
    MAX_UPSERT_BYTES,
    MAX_UPSERT_CONTACTS,
    RESERVED_FIELDS,
    SANDBOX_API_KEY,
    local_sandbox,
)
from connectors.sendgrid.transport import RateLimitPacer, sendgrid_client

# Keep a margin under 6 MB for the envelope ({"list_ids": [...], "contacts": [...]}).
_BYTE_BUDGET = MAX_UPSERT_BYTES - 16 * 1024
_CONTACT_INDEX = re.compile(r"^contacts\[(\d+)\]")
_PASSTHROUGH = ("external_id", "anonymous_id", "phone_number_id")


class SendGridOptions(BaseModel):
    """Options from ``destinations.yml``; ``${VAR}`` already expanded by the loader."""

    model_config = ConfigDict(extra="forbid")

    api_key: str | None = None  # default: $SENDGRID_API_KEY; none -> error, or the sandbox if chosen
    sandbox: bool | None = None  # true: the local sandbox; default: FERRY_SANDBOX
    host: str | None = None  # default https://api.sendgrid.com (or the sandbox)
    list_name: str | None = None  # found or created on first use
    list_id: str | None = None
    from_email: str | None = None  # send mode
    from_name: str | None = None
    template_id: str | None = None  # send mode: dynamic template; payload fields -> template data
    subject: str | None = None  # send mode without a template
    html_content: str | None = None
    field_types: dict[str, str] = Field(default_factory=dict)  # custom field -> Text|Number|Date
    custom_args: dict[str, str] = Field(default_factory=dict)  # static args on every send
    poll_interval: float = 1.0
    poll_timeout: float = 600.0
    timeout: float = 30.0
    max_attempts: int = 6
    # Whether "not found in Email Activity" proves a send never happened (see reconcile()):
    # None (default) = once the intent is older than reconcile_absent_after_minutes.
    reconcile_absent_is_proof: bool | None = None
    reconcile_absent_after_minutes: float = 60.0
    # Send mode (one POST /v3/mail/send per message): Mail Send is outside the v3 default
    # of 600 requests a minute the other endpoints share (SendGrid documents it separately,
    # far higher), so several sends are in flight at once; a 429 still holds every sender
    # of the account (X-RateLimit-Reset / Retry-After). None: no pacing of our own.
    send_concurrency: int = Field(4, ge=1, le=32)
    send_requests_per_second: float | None = Field(None, gt=0)
    sync_mode: str | None = None  # set by syncs.registry.build_destination from the sync


class SendGridDestination:
    """A SendGrid account (or its sandbox) seen through the destination contract."""

    options_model = SendGridOptions  # checked when syncs load (syncs.registry.option_errors)
    takes_sync_mode = True  # Mail Send and the contacts endpoints have different limits

    # Contacts, lists and deletions: one request at a time within the account's 600 a
    # minute (an upsert waits for its import job). A send sync's instance overrides the
    # limits with send_concurrency / send_requests_per_second (see __init__).
    capabilities = Capabilities(
        modes=frozenset({"upsert", "mirror", "insert", "send", "delete"}),
        identifiers=frozenset({"email"}),
        max_batch_records=MAX_UPSERT_CONTACTS,
        max_batch_bytes=MAX_UPSERT_BYTES,
        # SendGrid's v3 default is 600 requests/minute per endpoint; 429s are honoured anyway.
        max_requests_per_second=10.0,
        max_concurrency=1,
        request_per_send=True,  # send mode: one POST /v3/mail/send per message
    )

    def __init__(
        self, options: SendGridOptions, name: str = "sendgrid", sleep: Any = time.sleep
    ) -> None:
        self.name = name
        self.options = options
        self.sleep = sleep
        if options.sync_mode == "send":
            self.capabilities = replace(
                SendGridDestination.capabilities,
                max_concurrency=options.send_concurrency,
                max_requests_per_second=options.send_requests_per_second,
            )
        api_key = None if options.sandbox else options.api_key or os.environ.get("SENDGRID_API_KEY")
        host = options.host
        self.is_sandbox = False
        self._local = False  # the process-wide sandbox: its port changes, its identity does not
        if not api_key:
            if not sandbox_chosen(options.sandbox):
                raise MissingCredentials(f"{name!r} (type sendgrid)", {"api_key": "SENDGRID_API_KEY"})
            sandbox = local_sandbox()
            api_key, host, self.is_sandbox, self._local = (
                sandbox.api_key, sandbox.base_url, True, True
            )
        elif api_key == SANDBOX_API_KEY:
            self.is_sandbox = True
        self.host = host or "https://api.sendgrid.com"
        self.http = HttpClient(
            self.host, timeout=options.timeout, max_attempts=options.max_attempts, sleep=sleep
        )
        # Sends are not idempotent at SendGrid: one try, failures are classified, never replayed.
        self.send_http = HttpClient.for_sends(self.host, timeout=options.timeout, sleep=sleep)
        self.client = sendgrid_client(api_key, self.host, self.http)
        self._key_fingerprint = fingerprint(api_key)
        self.send_client = sendgrid_client(api_key, self.host, self.send_http)
        # python_http_client adds this header to the dict its clients share on the first
        # JSON request, while concurrent sends may be reading it: set before any send.
        self.send_client.client.request_headers.setdefault("Content-Type", "application/json")
        self.pacer = RateLimitPacer(sleep=sleep)
        self._list_id = options.list_id
        self._fields: dict[str, tuple[str, str]] | None = None  # name -> (id, type)
        # None: absence proves nothing until Email Activity has had time to index the send.
        self.absent_is_proof: bool | None = (
            options.reconcile_absent_is_proof
            if options.reconcile_absent_is_proof is not None
            else (True if self.is_sandbox else None)
        )

    @classmethod
    def from_options(cls, options: dict[str, Any], name: str = "sendgrid") -> SendGridDestination:
        try:
            parsed = SendGridOptions.model_validate(options or {})
        except ValidationError as exc:
            raise ValueError(
                f"destination {name!r} (type sendgrid): invalid options: {_describe(exc)}"
            ) from None
        return cls(parsed, name=name)

    # ------------------------------------------------------------------ identity

    @property
    def target_label(self) -> str:
        return "sandbox" if self.is_sandbox else target_host(self.host)

    @property
    def rate_limit_scope(self) -> str:
        """SendGrid's limits are per account (API key): every list and sender of it shares them."""
        where = identity_where(self.host, self.is_sandbox, self._local)
        return identity("sendgrid", where, f"key={self._key_fingerprint}")

    @property
    def destination_identity(self) -> str:
        """``sendgrid:<host>:list=<id or name>`` (or ``:from=<sender>`` for sends)."""
        where = identity_where(self.host, self.is_sandbox, self._local)
        o = self.options
        target = f"list={o.list_id or o.list_name}" if (o.list_id or o.list_name) else ""
        sender = f"from={o.from_email}" if o.from_email and not target else ""
        return identity("sendgrid", where, target, sender)

    # ------------------------------------------------------------------ contract

    def write(self, records: list[Record]) -> list[RecordResult]:
        results: dict[str, RecordResult] = {}
        by_op: dict[Operation, list[Record]] = {}
        for record in records:
            by_op.setdefault(record.operation, []).append(record)
        for op, batch in by_op.items():
            handler = {
                Operation.UPSERT: self._upsert,
                Operation.REMOVE: self._remove,
                Operation.DELETE: self._delete,
                Operation.SEND: self._send,
            }[op]
            for result in handler(batch):
                results[result.key] = result
        return [results[r.key] for r in records]

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Settle in-doubt sends by finding them by ``custom_args.ferry_idempotency_key``.

        What is used: the Email Activity API, ``GET /v3/messages?query=
        unique_args['ferry_idempotency_key']="<key>"`` (custom_args are called
        unique_args there). The sandbox implements the same query.

        Limits with the real API: it needs the paid "Extended Email Activity
        History" add-on (without it the call answers 403/404, and every record
        stays IN_DOUBT for a human); it allows about 6 requests a minute; and
        events are indexed with a delay of minutes, so "not found" is only
        proof of absence once the index has caught up: against the real API a
        send absent ``reconcile_absent_after_minutes`` (default 60) after its
        intent is proven absent (RETRYABLE: the next run sends it), a younger one
        stays IN_DOUBT and is asked about again next run. The sandbox indexes at
        once. ``reconcile_absent_is_proof`` True/False overrides the wait.
        """
        out: list[RecordResult] = []
        for record in records:
            if not record.idempotency_key:
                out.append(
                    RecordResult(record.key, Outcome.IN_DOUBT, "no idempotency key to look up")
                )
                continue
            query = f"unique_args['ferry_idempotency_key']=\"{record.idempotency_key}\""
            try:
                response = self.client.client.messages.get(
                    query_params={"query": query, "limit": 1}
                )
            except (RetryableError, AuthError) as exc:
                out.append(
                    RecordResult(record.key, Outcome.IN_DOUBT, f"email activity unavailable: {exc}")
                )
                continue
            if response.status_code != 200:
                out.append(
                    RecordResult(
                        record.key, Outcome.IN_DOUBT, f"email activity HTTP {response.status_code}"
                    )
                )
                continue
            messages = (response.to_dict or {}).get("messages") or []
            if messages:
                out.append(
                    RecordResult(
                        record.key, Outcome.ACCEPTED, destination_id=messages[0].get("msg_id")
                    )
                )
            elif self._absence_proves(record):
                out.append(
                    RecordResult(
                        record.key, Outcome.RETRYABLE, "not sent (absent from email activity)"
                    )
                )
            else:
                out.append(
                    RecordResult(
                        record.key,
                        Outcome.IN_DOUBT,
                        "absent from email activity, which may lag; asked again next run",
                    )
                )
        return out

    def _absence_proves(self, record: Record) -> bool:
        """Whether Email Activity has had time to index this send (see reconcile())."""
        if self.absent_is_proof is not None:
            return self.absent_is_proof
        if record.intent_at is None:
            return False
        age = datetime.now(UTC).replace(tzinfo=None) - record.intent_at
        return age >= timedelta(minutes=self.options.reconcile_absent_after_minutes)

    # ------------------------------------------------------------------ lists and fields

    def list_id(self, _retry: bool = True) -> str:
        """The target list id: configured, or found/created by ``list_name``.

        Creation is a POST the HTTP layer may replay after a lost answer; the
        replay then fails as a duplicate name, so a failed create looks the list
        up once more before giving up.
        """
        if self._list_id:
            return self._list_id
        if not self.options.list_name:
            raise RejectedError(
                f"destination {self.name!r}: set list_id or list_name for upsert/mirror"
            )
        params: dict[str, Any] = {"page_size": 1000}
        while True:
            response = self.client.client.marketing.lists.get(query_params=params)
            self._raise_for(response, "GET /v3/marketing/lists")
            body = response.to_dict or {}
            for lst in body.get("result", []):
                if lst.get("name") == self.options.list_name:
                    self._list_id = lst["id"]
                    return lst["id"]
            next_url = (body.get("_metadata") or {}).get("next")
            if not next_url:
                break
            token = re.search(r"page_token=([^&]+)", next_url)
            if not token:
                break
            params = {"page_size": 1000, "page_token": token.group(1)}
        response = self.client.client.marketing.lists.post(
            request_body={"name": self.options.list_name}
        )
        if response.status_code == 400 and _retry:
            return self.list_id(_retry=False)
        self._raise_for(response, "POST /v3/marketing/lists")
        self._list_id = (response.to_dict or {})["id"]
        return self._list_id

    def _field_ids(self, names: Iterable[str], samples: dict[str, Any]) -> dict[str, str]:
        """Custom field ids by name, creating the missing ones (type from options, else inferred)."""
        if self._fields is None:
            response = self.client.client.marketing.field_definitions.get()
            self._raise_for(response, "GET /v3/marketing/field_definitions")
            body = response.to_dict or {}
            self._fields = {
                f["name"]: (f["id"], f["field_type"]) for f in body.get("custom_fields", [])
            }
        out = {}
        for name in names:
            if name not in self._fields:
                field_type = self.options.field_types.get(name) or _infer_type(samples.get(name))
                response = self.client.client.marketing.field_definitions.post(
                    request_body={"name": name, "field_type": field_type}
                )
                if response.status_code == 400:  # a replayed create: it may exist already
                    self._fields = None
                    self._field_ids([], samples)  # reload the definitions
                    if self._fields is not None and name in self._fields:
                        out[name] = self._fields[name][0]
                        continue
                self._raise_for(response, "POST /v3/marketing/field_definitions")
                created = response.to_dict or {}
                self._fields[name] = (created["id"], created["field_type"])
            out[name] = self._fields[name][0]
        return out

    # ------------------------------------------------------------------ upsert

    def _contact(self, record: Record, field_ids: dict[str, str]) -> dict[str, Any]:
        """The contact JSON. A None in the payload means the mapping says `on_null: clear`
        (the engine leaves other nulls out): SendGrid clears a text field given an empty
        string; it has no way to clear a Number or Date field, so such a record is refused
        (ValueError: rejected with the reason) rather than reported synced with the old value."""
        contact: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for key, value in record.payload.items():
            if key.startswith(("ferry_", "_")):
                continue  # engine metadata
            if value is None:
                if key == "email" or key in _PASSTHROUGH:
                    continue
                if key in RESERVED_FIELDS:
                    contact[key] = ""
                    continue
                kind = (self._fields or {}).get(key, ("", "Text"))[1]
                if kind != "Text":
                    raise ValueError(
                        f"field {key!r} (SendGrid {kind}) cannot be cleared at SendGrid; "
                        "set on_null: keep for it"
                    )
                custom[field_ids[key]] = ""
                continue
            if key == "email":
                contact["email"] = str(value).strip().lower()
            elif key in RESERVED_FIELDS or key in _PASSTHROUGH:
                contact[key] = value if not hasattr(value, "isoformat") else value.isoformat()
            else:
                custom[field_ids[key]] = _json_value(value)
        if custom:
            contact["custom_fields"] = custom
        return contact

    def _upsert(self, records: list[Record]) -> list[RecordResult]:
        list_id = self.list_id()
        custom_names = {
            k
            for r in records
            for k in r.payload
            if not k.startswith(("ferry_", "_")) and k not in RESERVED_FIELDS and k not in _PASSTHROUGH
        }
        samples = {k: v for r in records for k, v in r.payload.items() if v is not None}
        field_ids = self._field_ids(sorted(custom_names), samples)
        results: list[RecordResult] = []
        pending: list[tuple[Record, dict[str, Any]]] = []
        for record in records:
            try:
                contact = self._contact(record, field_ids)
            except ValueError as exc:
                results.append(RecordResult(record.key, Outcome.REJECTED, str(exc)))
                continue
            if not any(contact.get(k) for k in ("email", *_PASSTHROUGH)):
                results.append(
                    RecordResult(
                        record.key, Outcome.REJECTED, "no identifier (email) for this record"
                    )
                )
            else:
                pending.append((record, contact))
        for chunk in _chunks(pending, list_id):
            results.extend(self._upsert_chunk(chunk, list_id))
        return self._drop_replaced(records, results)

    def _drop_replaced(
        self, records: list[Record], results: list[RecordResult]
    ) -> list[RecordResult]:
        """An accepted update whose e-mail changed: take the old address out of the list,
        so it stops receiving this list's mail. Until that removal is accepted the record
        stays RETRYABLE (both steps are idempotent, so the next run repeats them)."""
        accepted = {r.key for r in results if r.outcome is Outcome.ACCEPTED}
        old = [
            Record(r.key, Operation.REMOVE, {"email": r.payload[REPLACED_IDENTIFIERS]["email"]})
            for r in records
            if r.key in accepted
            and (r.payload.get(REPLACED_IDENTIFIERS) or {}).get("email")
            and str(r.payload[REPLACED_IDENTIFIERS]["email"]).strip().lower()
            != str(r.payload.get("email") or "").strip().lower()
        ]
        if not old:
            return results
        removed = {r.key: r for r in self._by_ids(old, "remove")}
        out = []
        for result in results:
            gone = removed.get(result.key)
            if gone is not None and gone.outcome is not Outcome.ACCEPTED:
                result = RecordResult(
                    result.key,
                    Outcome.RETRYABLE,
                    f"updated, but the previous address is still on the list: {gone.error}",
                )
            out.append(result)
        return out

    def _upsert_chunk(
        self, chunk: list[tuple[Record, dict[str, Any]]], list_id: str
    ) -> list[RecordResult]:
        results: list[RecordResult] = []
        for _ in range(2):  # a 400 naming contacts: reject those, resend the others once
            if not chunk:
                return results
            body = {"list_ids": [list_id], "contacts": [c for _, c in chunk]}
            try:
                response = self.client.client.marketing.contacts.put(request_body=body)
            except RetryableError as exc:
                return results + [
                    RecordResult(r.key, Outcome.RETRYABLE, str(exc)) for r, _ in chunk
                ]
            if response.status_code == 202:
                job_id = (response.to_dict or {}).get("job_id")
                return results + self._await_upsert(job_id, chunk)
            errors = _errors(response)
            bad: dict[int, str] = {}
            for e in errors:
                m = _CONTACT_INDEX.match(e.get("field") or "")
                if m:
                    bad.setdefault(int(m.group(1)), f"{e.get('field')}: {e.get('message')}")
            if not bad:
                message = (
                    "; ".join(str(e.get("message")) for e in errors)
                    or f"HTTP {response.status_code}"
                )
                return results + [RecordResult(r.key, Outcome.REJECTED, message) for r, _ in chunk]
            results += [
                RecordResult(chunk[i][0].key, Outcome.REJECTED, _redact(msg))
                for i, msg in sorted(bad.items())
            ]
            chunk = [pair for i, pair in enumerate(chunk) if i not in bad]
        return results + [
            RecordResult(r.key, Outcome.REJECTED, "rejected after resubmission") for r, _ in chunk
        ]

    def _await_upsert(
        self, job_id: str, chunk: list[tuple[Record, dict[str, Any]]]
    ) -> list[RecordResult]:
        """One result per contact of a finished import job; errors never hide.

        ``completed``: all accepted. ``errored``/``failed``: the errors file names the
        contacts SendGrid refused (REJECTED with its message); the others were imported
        (``errored``) or not (``failed``: RETRYABLE, the upsert is idempotent). When the
        job reports errors but the file cannot be read (no URL, an expired link's
        401/403, a 404 or 5xx, a layout we do not recognise), nobody is marked ACCEPTED:
        every contact comes back RETRYABLE with the reason, and the run goes on.
        """
        try:
            job = self._poll(job_id)
        except RetryableError as exc:
            return [RecordResult(r.key, Outcome.RETRYABLE, str(exc)) for r, _ in chunk]
        status = job.get("status")
        if status == "completed":
            return [RecordResult(r.key, Outcome.ACCEPTED) for r, _ in chunk]
        errors_by_id, unreadable = self._job_errors(job)
        if unreadable:
            reason = f"import job {job_id} {status}; its errors file is unreadable ({unreadable})"
            return [RecordResult(r.key, Outcome.RETRYABLE, reason) for r, _ in chunk]
        out = []
        for record, contact in chunk:
            error = errors_by_id.get(("email", contact.get("email") or "")) or errors_by_id.get(
                ("external_id", str(contact.get("external_id") or ""))
            )
            if error:
                out.append(RecordResult(record.key, Outcome.REJECTED, error))
            elif status == "errored":
                out.append(RecordResult(record.key, Outcome.ACCEPTED))
            else:  # failed: nothing is known to have landed
                out.append(
                    RecordResult(record.key, Outcome.RETRYABLE, f"import job {job_id} {status}")
                )
        return out

    def _job_errors(self, job: dict[str, Any]) -> tuple[dict[tuple[str, str], str], str | None]:
        """Per-contact errors from the job's errors file, and why it could not be read (or None).

        The file is a download (``results.errors_url``), CSV with the contact's
        ``email``/``external_id`` and an ``error`` column. The API key goes only to
        SendGrid's own v3 API, never to a download link (pre-signed: it needs none).
        """
        results = job.get("results") or {}
        url = results.get("errors_url")
        if not url:
            errored = int(results.get("errored_count") or 0)
            return {}, ("no errors_url in the job's results" if errored else "the job gave no errors file")
        parts = urlsplit(url)
        own_api = parts.netloc == urlsplit(self.host).netloc and parts.path.startswith("/v3/")
        headers = {"Authorization": f"Bearer {self._api_key()}"} if own_api else {}
        try:
            response = self.http.request("GET", url, headers=headers)
        except (AuthError, RetryableError) as exc:
            return {}, _redact(str(exc).replace(url, "errors_url"))
        if response.status_code != 200:
            return {}, f"HTTP {response.status_code}"
        reader = csv.DictReader(io.StringIO(response.text))
        columns = {(c or "").strip().lower() for c in reader.fieldnames or []}
        if not columns & {"email", "external_id"} or not columns & {"error", "errors"}:
            return {}, f"unrecognised layout (columns {sorted(columns)})"
        out: dict[tuple[str, str], str] = {}
        for row in reader:
            lowered = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            error = _redact(lowered.get("error") or lowered.get("errors") or "rejected by import job")
            if lowered.get("email"):
                out[("email", lowered["email"].lower())] = error
            if lowered.get("external_id"):
                out[("external_id", lowered["external_id"])] = error
        if not out and int(results.get("errored_count") or 0):
            return {}, "the errors file names no contact"
        return out, None

    def _api_key(self) -> str:
        return self.client.api_key

    def _poll(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.poll_timeout
        while True:
            response = self.client.client.marketing.contacts.imports._(job_id).get()
            self._raise_for(response, "GET /v3/marketing/contacts/imports/{id}")
            job = response.to_dict or {}
            if job.get("status") != "pending":
                return job
            if time.monotonic() > deadline:
                raise RetryableError(f"import job still pending after {self.options.poll_timeout}s")
            self.sleep(self.options.poll_interval)

    # ------------------------------------------------------------------ remove and delete

    def _search(self, emails: list[str]) -> dict[str, dict[str, Any]]:
        """Contacts by lower-cased email, 100 emails a call (absent emails are simply missing)."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(emails), MAX_SEARCH_EMAILS):
            chunk = emails[i : i + MAX_SEARCH_EMAILS]
            response = self.client.client.marketing.contacts.search.emails.post(
                request_body={"emails": chunk}
            )
            if response.status_code == 404:
                continue
            self._raise_for(response, "POST /v3/marketing/contacts/search/emails")
            for email, entry in ((response.to_dict or {}).get("result") or {}).items():
                if "contact" in entry:
                    found[email.lower()] = entry["contact"]
        return found

    def _by_ids(self, records: list[Record], action: str) -> list[RecordResult]:
        emails = {r.key: str(r.payload.get("email") or "").strip().lower() for r in records}
        results: list[RecordResult] = []
        try:
            contacts = self._search(sorted({e for e in emails.values() if e}))
        except RetryableError as exc:
            return [RecordResult(r.key, Outcome.RETRYABLE, str(exc)) for r in records]
        targets: list[tuple[Record, str]] = []
        for record in records:
            email = emails[record.key]
            if not email:
                results.append(
                    RecordResult(record.key, Outcome.REJECTED, "no email for this record")
                )
            elif email not in contacts:
                results.append(RecordResult(record.key, Outcome.ACCEPTED))  # already absent
            else:
                targets.append((record, contacts[email]["id"]))
        list_id = self.list_id() if action == "remove" else None
        for i in range(0, len(targets), MAX_IDS_PER_DELETE):
            chunk = targets[i : i + MAX_IDS_PER_DELETE]
            ids = ",".join(cid for _, cid in chunk)
            if not ids:  # never let an empty id list turn into a broader delete
                continue
            try:
                if action == "remove":
                    response = self.client.client.marketing.lists._(list_id).contacts.delete(
                        query_params={"contact_ids": ids}
                    )
                else:
                    response = self.client.client.marketing.contacts.delete(
                        query_params={"ids": ids}
                    )
                if response.status_code != 202:
                    message = (
                        "; ".join(str(e.get("message")) for e in _errors(response))
                        or f"HTTP {response.status_code}"
                    )
                    results += [RecordResult(r.key, Outcome.REJECTED, message) for r, _ in chunk]
                    continue
                body = response.to_dict or {}
                job_id = body.get("job_id") or body.get("jobId")  # the docs show both spellings
                # Only deletion jobs are documented as pollable (Import Contacts Status); a
                # list removal is accepted once SendGrid answers 202.
                job = (
                    self._poll(job_id) if action == "delete" and job_id else {"status": "completed"}
                )
            except RetryableError as exc:
                results += [RecordResult(r.key, Outcome.RETRYABLE, str(exc)) for r, _ in chunk]
                continue
            ok = job.get("status") in ("completed", None)
            results += [
                RecordResult(
                    r.key,
                    Outcome.ACCEPTED if ok else Outcome.RETRYABLE,
                    None if ok else f"job {job.get('status')}",
                    cid,
                )
                for r, cid in chunk
            ]
        return results

    def _remove(self, records: list[Record]) -> list[RecordResult]:
        return self._by_ids(records, "remove")

    def _delete(self, records: list[Record]) -> list[RecordResult]:
        return self._by_ids(records, "delete")

    # ------------------------------------------------------------------ send

    def _mail(self, record: Record) -> Mail:
        o = self.options
        if not o.from_email:
            raise RejectedError(f"destination {self.name!r}: from_email is required for send mode")
        email = str(record.payload.get("email") or "").strip().lower()
        data = {
            k: _json_value(v)
            for k, v in record.payload.items()
            if v is not None and not k.startswith(("ferry_", "_"))
        }
        if o.template_id:
            mail = Mail(from_email=From(o.from_email, o.from_name), to_emails=To(email))
            mail.template_id = o.template_id
            mail.dynamic_template_data = data
        else:
            mail = Mail(
                from_email=From(o.from_email, o.from_name),
                to_emails=To(email),
                subject=o.subject or "(no subject)",
                html_content=o.html_content or "<p></p>",
            )
        args = {**o.custom_args, "ferry_key": record.key}
        if record.idempotency_key:
            args["ferry_idempotency_key"] = record.idempotency_key
        args.update(
            {
                k: str(v)
                for k, v in record.payload.items()
                if k.startswith("ferry_") and v is not None
            }
        )
        for key, value in args.items():
            mail.add_custom_arg(CustomArg(key, value))
        return mail

    def _send(self, records: list[Record]) -> list[RecordResult]:
        out = []
        for record in records:
            if not record.payload.get("email"):
                out.append(RecordResult(record.key, Outcome.REJECTED, "no email for this record"))
                continue
            try:
                mail = self._mail(record)
                mail.get()  # the helper parses the address only when it serialises
            except (KeyError, ValueError, TypeError) as exc:
                # The official helper refuses the address (e.g. KeyError 'email' for a string
                # it cannot parse): nothing left, so this record is rejected, not the batch.
                out.append(
                    RecordResult(
                        record.key,
                        Outcome.REJECTED,
                        f"invalid recipient for the SendGrid Mail helper ({type(exc).__name__})",
                    )
                )
                continue
            self.pacer.wait()
            try:
                response = self.send_client.send(mail)
            except RetryableError as exc:
                # Only a 429 proves SendGrid did not take the message (the HTTP layer tried
                # it again while the window opened soon: HttpClient.for_sends).
                self.pacer.observe_error(exc)
                outcome = Outcome.RETRYABLE if "HTTP 429" in str(exc) else Outcome.IN_DOUBT
                out.append(RecordResult(record.key, outcome, str(exc)))
                continue
            self.pacer.observe(response.headers, response.status_code)
            if response.status_code == 202:
                out.append(
                    RecordResult(
                        record.key,
                        Outcome.ACCEPTED,
                        destination_id=response.headers.get("X-Message-Id"),
                    )
                )
            else:
                message = "; ".join(
                    f"{e.get('field')}: {e.get('message')}" for e in _errors(response)
                )
                out.append(
                    RecordResult(
                        record.key,
                        Outcome.REJECTED,
                        _redact(message or f"HTTP {response.status_code}"),
                    )
                )
        return out

    # ------------------------------------------------------------------ helpers

    def _raise_for(self, response: Any, what: str) -> None:
        if 200 <= response.status_code < 300:
            return
        message = "; ".join(str(e.get("message")) for e in _errors(response))
        raise RejectedError(f"{what}: HTTP {response.status_code} {message}")


def _errors(response: Any) -> list[dict[str, Any]]:
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return []
    return list(body.get("errors") or []) if isinstance(body, dict) else []


def _redact(message: str) -> str:
    """Vendor messages may echo an address: never let raw PII into results or logs."""
    return re.sub(r"[^\s@\"',;]+@[^\s@\"',;]+", "<email>", message)


def _infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "Text"
    if isinstance(value, (int, float)):
        return "Number"
    if hasattr(value, "isoformat"):
        return "Date"
    return "Text"


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    try:
        return float(value)  # Decimal and friends
    except (TypeError, ValueError):
        return str(value)


def _chunks(
    pending: list[tuple[Record, dict[str, Any]]], list_id: str
) -> Iterator[list[tuple[Record, dict[str, Any]]]]:
    """Batches within 30,000 contacts and the 6 MB body limit (measured as serialised JSON)."""
    chunk: list[tuple[Record, dict[str, Any]]] = []
    size = len(json.dumps({"list_ids": [list_id], "contacts": []}))
    for pair in pending:
        item = len(json.dumps(pair[1])) + 2
        if chunk and (len(chunk) >= MAX_UPSERT_CONTACTS or size + item > _BYTE_BUDGET):
            yield chunk
            chunk, size = [], len(json.dumps({"list_ids": [list_id], "contacts": []}))
        chunk.append(pair)
        size += item
    if chunk:
        yield chunk


def _describe(exc: ValidationError) -> str:
    """Which option is wrong and why, without echoing values (an option may be a secret)."""
    return "; ".join(
        f"options.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
    )
