"""A local SendGrid v3 that follows the vendor's contract (see shared/api/sendgrid.md).

Serves the endpoints Ferry uses, with SendGrid's paths, ``Authorization: Bearer``
auth, JSON bodies, limits and ``{"errors": [{"field", "message"}]}`` error body:

- marketing: field definitions, lists, ``PUT /v3/marketing/contacts`` (async
  job: contacts land when the job completes, ``job_delay`` seconds later),
  import status whose ``errors_url`` is a pre-signed, expiring download of the
  errors file (as the real API gives; there is no v3 errors endpoint), search by
  emails, list removal, contact
  deletion (``delete_all_contacts`` is honoured *and* flagged, tests assert we
  never send it);
- ``POST /v3/mail/send`` (202, ``X-Message-Id``) and the Email Activity query
  ``GET /v3/messages?query=unique_args['k']="v"`` used to reconcile sends;
- suppressions: unsubscribes, bounces, spam reports, invalid emails, blocks,
  with ``start_time``/``end_time``/``limit``/``offset``;
- rate limits per bucket with ``X-RateLimit-Limit/Remaining/Reset`` on every
  answer and 429 ``{"errors":[{"field":null,"message":"too many requests"}]}``;
- engagement: :meth:`SendGridSandbox.generate_engagement` turns sent messages
  into processed/delivered/open/click/bounce/blocked/dropped/unsubscribe/
  spamreport events at configurable rates, updates suppressions, and POSTs them
  as signed event-webhook batches (ECDSA P-256 over timestamp + raw body, key
  pair generated here; :attr:`public_key` is what the receiver is given).

Documented limits enforced: 30,000 contacts or 6 MB per upsert, 100 emails per
search, 100 ids per list-removal / deletion call, 1,000 personalizations and
1,000 recipients per mail send, 10,000 bytes of custom_args, 500 custom fields.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.sandbox import Request, Response, SandboxServer, TokenBucket, post_webhook

MAX_UPSERT_CONTACTS = 30_000
# "6 MB": read as 6,000,000 bytes, the stricter of MB and MiB, so a batch that passes
# here also passes at SendGrid.
MAX_UPSERT_BYTES = 6_000_000
MAX_SEARCH_EMAILS = 100
MAX_IDS_PER_DELETE = 100
MAX_PERSONALIZATIONS = 1_000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_CUSTOM_FIELDS = 500
SANDBOX_API_KEY = "SG.ferry-sandbox-key"
SANDBOX_SENDING_IP = "192.0.2.10"  # TEST-NET-1: the sandbox's "sending IP"
DOWNLOAD_PATH = "/downloads/contact-import-errors"  # where errors_url points (not the v3 API)

RESERVED_FIELDS = {
    "first_name": "Text",
    "last_name": "Text",
    "email": "Text",
    "phone_number_id": "Text",
    "external_id": "Text",
    "anonymous_id": "Text",
    "alternate_emails": "Text",
    "address_line_1": "Text",
    "address_line_2": "Text",
    "city": "Text",
    "state_province_region": "Text",
    "postal_code": "Text",
    "country": "Text",
    "phone_number": "Text",
    "whatsapp": "Text",
    "line": "Text",
    "facebook": "Text",
    "unique_name": "Text",
}
IDENTIFIERS = ("email", "phone_number_id", "external_id", "anonymous_id")
SUPPRESSION_TYPES = ("unsubscribes", "bounces", "spam_reports", "invalid_emails", "blocks")
_EMAIL_RX = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FIELD_NAME_RX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ACTIVITY_RX = re.compile(
    r"""(unique_args\['(?P<arg>[^']+)'\]|(?P<col>to_email|msg_id))\s*=\s*"(?P<value>[^"]*)\""""
)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _contact_details(contact: dict[str, Any]) -> dict[str, Any]:
    """A held contact as the API shows it (ContactDetails3: ISO timestamps, segment_ids)."""
    return {
        **contact,
        "list_ids": sorted(contact["list_ids"]),
        "segment_ids": [],
        "created_at": _iso(contact["created_at"]),
        "updated_at": _iso(contact.get("updated_at", contact["created_at"])),
    }


def _err(status: int, message: str, field_name: str | None = None) -> Response:
    return Response.json({"errors": [{"field": field_name, "message": message}]}, status)


@dataclass
class Job:
    id: str
    job_type: str  # upsert | delete | list_removal
    due_at: float
    payload: dict[str, Any]
    status: str = "pending"
    results: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float | None = None


@dataclass
class SendGridState:
    """What the vendor holds; tests compare it with what the warehouse says was synced."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> contact
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"id", "name"}
    custom_fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> definition
    jobs: dict[str, Job] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # accepted mail sends
    events: list[dict[str, Any]] = field(default_factory=list)  # generated engagement events
    suppressions: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {t: {} for t in SUPPRESSION_TYPES}
    )
    delete_all_requested: bool = False

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        email = email.lower()
        return next((c for c in self.contacts.values() if c.get("email") == email), None)

    def list_emails(self, list_id: str) -> set[str]:
        return {
            c["email"]
            for c in self.contacts.values()
            if list_id in c["list_ids"] and c.get("email")
        }


@dataclass
class EngagementRates:
    """Probabilities per sent message (each applied independently, in funnel order)."""

    bounce: float = 0.05
    blocked: float = 0.0
    open: float = 0.4
    click: float = 0.3  # of opens
    unsubscribe: float = 0.05  # of opens
    spamreport: float = 0.01  # of delivered
    deferred: float = 0.05  # of delivered: a temporary refusal first, delivered on a retry


class SendGridSandbox(SandboxServer):
    vendor = "sendgrid"

    def __init__(
        self,
        *,
        api_key: str = SANDBOX_API_KEY,
        job_delay: float = 0.05,
        webhook_url: str | None = None,
        errors_file_ttl: float = 3600.0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        # The errors file: a link that expires (403 after ``errors_file_ttl`` seconds) and
        # its CSV header; tests change both to see a connector cope with what it cannot read.
        self.errors_file_ttl = errors_file_ttl
        self.errors_file_columns: tuple[str, ...] = ("email", "external_id", "error")
        self.job_delay = job_delay
        self.webhook_url = webhook_url
        self.state = SendGridState()
        self._private_key = ec.generate_private_key(ec.SECP256R1())
        self._delivered_events = 0
        r = self.route
        r("GET", "/v3/marketing/field_definitions", self._get_fields)
        r("POST", "/v3/marketing/field_definitions", self._post_field)
        r("GET", "/v3/marketing/lists", self._get_lists)
        r("POST", "/v3/marketing/lists", self._post_list)
        r("PUT", "/v3/marketing/contacts", self._put_contacts, bucket="contacts")
        r("DELETE", "/v3/marketing/contacts", self._delete_contacts, bucket="contacts")
        r("GET", "/v3/marketing/contacts/imports/{job_id}", self._get_job)
        # Not a v3 endpoint: the errors file is a pre-signed download link (``errors_url``)
        r("GET", DOWNLOAD_PATH + "/{job_id}.csv", self._download_job_errors)
        r("POST", "/v3/marketing/contacts/search/emails", self._search_emails)
        r(
            "DELETE",
            "/v3/marketing/lists/{list_id}/contacts",
            self._remove_from_list,
            bucket="contacts",
        )
        r("POST", "/v3/mail/send", self._mail_send, bucket="mail")
        r("GET", "/v3/messages", self._activity, bucket="activity")
        for kind in SUPPRESSION_TYPES:
            r("GET", f"/v3/suppression/{kind}", self._suppressions(kind))

    # ------------------------------------------------------------------ hooks

    @property
    def public_key(self) -> str:
        """The base64 DER public key, as SendGrid shows it under Mail Settings (what receivers get)."""
        der = self._private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def authenticate(self, request: Request) -> Response | None:
        if request.path.startswith(DOWNLOAD_PATH + "/"):
            return None  # a pre-signed link: its signature is the credential
        header = request.header("Authorization") or ""
        if header != f"Bearer {self.api_key}":
            return _err(
                401,
                "authorization required"
                if not header
                else "The provided authorization grant is invalid, expired, or revoked",
            )
        return None

    def error_response(self, status: int, message: str, request: Request | None = None) -> Response:
        return _err(status, message)

    def rate_limit_headers(self, bucket: TokenBucket, retry_after: float) -> dict[str, str]:
        reset = math.ceil(time.time() + (retry_after or (1.0 / bucket.rate)))
        return {
            "X-RateLimit-Limit": str(bucket.burst),
            "X-RateLimit-Remaining": str(bucket.remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def too_many_requests(
        self, request: Request, bucket: TokenBucket, retry_after: float
    ) -> Response:
        # SendGrid documents only X-RateLimit-Reset on 429 (added by the base from rate_limit_headers).
        return _err(429, "too many requests")

    # ------------------------------------------------------------------ async jobs

    def _new_job(self, job_type: str, payload: dict[str, Any]) -> Job:
        job = Job(
            str(uuid.uuid4()),
            job_type,
            time.time() + self.job_delay,
            payload,
            started_at=time.time(),
        )
        self.state.jobs[job.id] = job
        return job

    def _advance_jobs(self, force: bool = False) -> None:
        now = time.time()
        for job in self.state.jobs.values():
            if job.status == "pending" and (force or now >= job.due_at):
                getattr(self, f"_run_{job.job_type}")(job)
                job.finished_at = now
                errored = job.results.get("errored_count", 0)
                requested = job.results.get("requested_count", 0)
                job.status = (
                    "completed"
                    if not errored
                    else ("failed" if errored >= requested else "errored")
                )

    def advance(self) -> None:
        """Finish every pending job now, due or not (tests inspecting ``state`` call this)."""
        with self.lock:
            self._advance_jobs(force=True)

    def _run_upsert(self, job: Job) -> None:
        created = updated = 0
        for contact in job.payload["contacts"]:
            email = (contact.get("email") or "").lower() or None
            reason = self.faults.rejection_for(email) if email else None
            if reason:
                job.errors.append(
                    {
                        "email": email or "",
                        "external_id": contact.get("external_id") or "",
                        "error": reason,
                    }
                )
                continue
            existing = self.state.contact_by_email(email) if email else None
            if existing is None and contact.get("external_id"):
                existing = next(
                    (
                        c
                        for c in self.state.contacts.values()
                        if c.get("external_id") == contact["external_id"]
                    ),
                    None,
                )
            now = time.time()
            if existing is None:
                existing = {
                    "id": str(uuid.uuid4()),
                    "list_ids": set(),
                    "custom_fields": {},
                    "created_at": now,
                }
                self.state.contacts[existing["id"]] = existing
                created += 1
            else:
                updated += 1
            for key, value in contact.items():
                if key == "custom_fields":
                    existing["custom_fields"].update(value)
                else:
                    existing[key] = value.lower() if key == "email" else value
            existing["list_ids"].update(job.payload.get("list_ids") or [])
            existing["updated_at"] = now
        job.results = {
            "requested_count": len(job.payload["contacts"]),
            "created_count": created,
            "updated_count": updated,
            "deleted_count": 0,
            "errored_count": len(job.errors),
        }
        if job.errors:
            expires = int(time.time() + self.errors_file_ttl)
            job.results["errors_url"] = (
                f"{self.base_url}{DOWNLOAD_PATH}/{job.id}.csv?expires={expires}"
                f"&signature={self._download_signature(job.id, expires)}"
            )

    def _run_delete(self, job: Job) -> None:
        if job.payload.get("all"):
            ids = list(self.state.contacts)
        else:
            ids = [i for i in job.payload["ids"] if i in self.state.contacts]
        for contact_id in ids:
            del self.state.contacts[contact_id]
        job.results = {
            "requested_count": len(job.payload.get("ids") or ids),
            "deleted_count": len(ids),
            "errored_count": 0,
        }

    def _run_list_removal(self, job: Job) -> None:
        removed = 0
        for contact_id in job.payload["ids"]:
            contact = self.state.contacts.get(contact_id)
            if contact and job.payload["list_id"] in contact["list_ids"]:
                contact["list_ids"].discard(job.payload["list_id"])
                removed += 1
        job.results = {
            "requested_count": len(job.payload["ids"]),
            "removed_count": removed,
            "errored_count": 0,
        }

    # ------------------------------------------------------------------ marketing endpoints

    def _get_fields(self, request: Request) -> Response:
        reserved = [
            {"id": f"_rf{i}_T", "name": n, "field_type": t, "read_only": False}
            for i, (n, t) in enumerate(RESERVED_FIELDS.items())
        ]
        return Response.json(
            {"custom_fields": list(self.state.custom_fields.values()), "reserved_fields": reserved}
        )

    def _post_field(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return _err(400, "invalid JSON body")
        name, field_type = body.get("name"), body.get("field_type")
        if not isinstance(name, str) or not _FIELD_NAME_RX.match(name) or len(name) > 100:
            return _err(
                400,
                "name must be alphanumeric with underscores, starting with a letter or underscore",
                "name",
            )
        if field_type not in ("Text", "Number", "Date"):
            return _err(400, "field_type must be one of Text, Number, Date", "field_type")
        if name in RESERVED_FIELDS or any(
            f["name"] == name for f in self.state.custom_fields.values()
        ):
            return _err(400, "field name already exists", "name")
        if len(self.state.custom_fields) >= MAX_CUSTOM_FIELDS:
            return _err(
                400, f"an account can have at most {MAX_CUSTOM_FIELDS} custom fields", "name"
            )
        suffix = field_type[0]
        definition = {
            "id": f"e{len(self.state.custom_fields) + 1}_{suffix}",
            "name": name,
            "field_type": field_type,
        }
        self.state.custom_fields[definition["id"]] = definition
        return Response.json(definition, 200)

    def _get_lists(self, request: Request) -> Response:
        page_size = int(request.arg("page_size", "100") or 100)
        if not 1 <= page_size <= 1000:
            return _err(400, "page_size must be between 1 and 1000", "page_size")
        lists = sorted(self.state.lists.values(), key=lambda x: x["id"])
        token = request.arg("page_token")
        start = int(token) if token else 0
        page = lists[start : start + page_size]
        result = [{**lst, "contact_count": len(self.state.list_emails(lst["id"]))} for lst in page]
        meta: dict[str, Any] = {"self": f"{self.base_url}/v3/marketing/lists?page_size={page_size}"}
        if start + page_size < len(lists):
            meta["next"] = (
                f"{self.base_url}/v3/marketing/lists?page_size={page_size}&page_token={start + page_size}"
            )
        return Response.json({"result": result, "_metadata": meta})

    def _post_list(self, request: Request) -> Response:
        body = request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name or len(name) > 100:
            return _err(400, "name is required (at most 100 characters)", "name")
        if any(lst["name"] == name for lst in self.state.lists.values()):
            return _err(400, "a list with this name already exists", "name")
        lst = {"id": str(uuid.uuid4()), "name": name}
        self.state.lists[lst["id"]] = lst
        return Response.json(
            {
                **lst,
                "contact_count": 0,
                "_metadata": {"self": f"{self.base_url}/v3/marketing/lists/{lst['id']}"},
            },
            201,
        )

    def _put_contacts(self, request: Request) -> Response:
        if len(request.body) > MAX_UPSERT_BYTES:
            return _err(413, f"request body must be at most {MAX_UPSERT_BYTES} bytes")
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("contacts"), list):
            return _err(400, "contacts is required and must be an array", "contacts")
        contacts = body["contacts"]
        if not 1 <= len(contacts) <= MAX_UPSERT_CONTACTS:
            return _err(
                400, f"contacts must hold between 1 and {MAX_UPSERT_CONTACTS} items", "contacts"
            )
        list_ids = body.get("list_ids") or []
        for i, list_id in enumerate(list_ids):
            if list_id not in self.state.lists:
                return _err(400, "list id does not exist", f"list_ids[{i}]")
        errors = []
        for i, contact in enumerate(contacts):
            if not isinstance(contact, dict):
                errors.append({"field": f"contacts[{i}]", "message": "contact must be an object"})
                continue
            if not any(contact.get(k) for k in IDENTIFIERS):
                errors.append(
                    {
                        "field": f"contacts[{i}]",
                        "message": "at least one identifier is required: " + ", ".join(IDENTIFIERS),
                    }
                )
            email = contact.get("email")
            if email is not None and (
                not isinstance(email, str) or not _EMAIL_RX.match(email) or len(email) > 254
            ):
                errors.append({"field": f"contacts[{i}].email", "message": "email is invalid"})
            for key in contact:
                if key != "custom_fields" and key not in RESERVED_FIELDS:
                    errors.append(
                        {
                            "field": f"contacts[{i}].{key}",
                            "message": "unknown field; custom fields go in custom_fields by id",
                        }
                    )
            for field_id, value in (contact.get("custom_fields") or {}).items():
                definition = self.state.custom_fields.get(field_id)
                if definition is None:
                    errors.append(
                        {
                            "field": f"contacts[{i}].custom_fields.{field_id}",
                            "message": "custom field id does not exist",
                        }
                    )
                elif definition["field_type"] == "Number" and not isinstance(value, (int, float)):
                    errors.append(
                        {
                            "field": f"contacts[{i}].custom_fields.{field_id}",
                            "message": "value must be a number",
                        }
                    )
        if errors:
            return Response.json({"errors": errors}, 400)
        job = self._new_job("upsert", {"contacts": contacts, "list_ids": list_ids})
        return Response.json(
            {
                "job_id": job.id,
                "_metadata": {"self": f"{self.base_url}/v3/marketing/contacts/imports/{job.id}"},
            },
            202,
        )

    def _get_job(self, request: Request) -> Response:
        self._advance_jobs()
        job = self.state.jobs.get(request.params["job_id"])
        if job is None:
            return _err(404, "job not found", "id")
        def iso(t: float | None) -> str | None:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else None

        answer = {
            "id": job.id,
            "status": job.status,
            "job_type": "delete" if job.job_type == "delete" else "upsert",
            "results": job.results,
            "started_at": iso(job.started_at),
        }
        if job.finished_at:  # a string in SendGrid's description, never null: absent while pending
            answer["finished_at"] = iso(job.finished_at)
        return Response.json(answer)

    def _download_signature(self, job_id: str, expires: int) -> str:
        return hmac.new(self.api_key.encode(), f"{job_id}:{expires}".encode(), "sha256").hexdigest()

    def _download_job_errors(self, request: Request) -> Response:
        """The errors file behind ``errors_url``: CSV, one row a refused contact. Like a
        storage provider's pre-signed link, a wrong or expired signature answers 403."""
        self._advance_jobs()
        job_id = request.params["job_id"]
        try:
            expires = int(request.arg("expires") or "")
        except ValueError:
            expires = 0
        signature = request.arg("signature") or ""
        if (
            expires < time.time()
            or not hmac.compare_digest(signature, self._download_signature(job_id, expires))
        ):
            return Response(403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"})
        job = self.state.jobs.get(job_id)
        if job is None:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", {"Content-Type": "application/xml"})
        columns = self.errors_file_columns
        lines = [",".join(columns)]
        for e in job.errors:
            lines.append(",".join(json.dumps(e.get(k, "")) for k in columns))
        return Response(200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/csv"})

    def _search_emails(self, request: Request) -> Response:
        self._advance_jobs()
        body = request.json()
        emails = body.get("emails") if isinstance(body, dict) else None
        if not isinstance(emails, list) or not emails:
            return _err(400, "emails is required", "emails")
        if len(emails) > MAX_SEARCH_EMAILS:
            return _err(400, f"at most {MAX_SEARCH_EMAILS} emails per request", "emails")
        result: dict[str, Any] = {}
        for email in emails:
            contact = self.state.contact_by_email(str(email))
            if contact is None:
                result[email] = {"error": "contact not found"}
            else:
                result[email] = {"contact": _contact_details(contact)}
        if all("error" in v for v in result.values()):
            return _err(404, "no contacts found")
        return Response.json({"result": result})

    def _ids_arg(self, request: Request, name: str) -> list[str] | Response:
        raw = request.arg(name) or ""
        ids = [i for i in raw.split(",") if i]
        if not ids:
            return _err(400, f"{name} is required", name)
        if len(ids) > MAX_IDS_PER_DELETE:
            return _err(400, f"at most {MAX_IDS_PER_DELETE} ids per request", name)
        return ids

    def _remove_from_list(self, request: Request) -> Response:
        if request.params["list_id"] not in self.state.lists:
            return _err(404, "list not found", "id")
        ids = self._ids_arg(request, "contact_ids")
        if isinstance(ids, Response):
            return ids
        job = self._new_job("list_removal", {"ids": ids, "list_id": request.params["list_id"]})
        return Response.json({"job_id": job.id}, 202)

    def _delete_contacts(self, request: Request) -> Response:
        if request.arg("delete_all_contacts") == "true":
            self.state.delete_all_requested = True
            job = self._new_job("delete", {"all": True})
            return Response.json({"job_id": job.id}, 202)
        ids = self._ids_arg(request, "ids")
        if isinstance(ids, Response):
            return ids
        job = self._new_job("delete", {"ids": ids})
        return Response.json({"job_id": job.id}, 202)

    # ------------------------------------------------------------------ mail send

    def _mail_send(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return _err(400, "The request body must be a JSON object", None)
        sender = body.get("from")
        if not isinstance(sender, dict) or not _EMAIL_RX.match(str(sender.get("email") or "")):
            return _err(
                400,
                "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.",
                "from.email",
            )
        pers = body.get("personalizations")
        if not isinstance(pers, list) or not pers:
            return _err(
                400,
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        if len(pers) > MAX_PERSONALIZATIONS:
            return _err(400, f"at most {MAX_PERSONALIZATIONS} personalizations", "personalizations")
        has_content = bool(body.get("content")) or bool(body.get("template_id"))
        if not has_content:
            return _err(
                400,
                "Unless a valid template_id is provided, the content parameter is required.",
                "content",
            )
        recipients = []
        for i, p in enumerate(pers):
            to = p.get("to") if isinstance(p, dict) else None
            if not isinstance(to, list) or not to:
                return _err(
                    400,
                    "The to array is required for all personalization objects, and must have at least one email object with a valid email address.",
                    f"personalizations.{i}.to",
                )
            for j, t in enumerate(to):
                email = str((t or {}).get("email") or "")
                if not _EMAIL_RX.match(email):
                    return _err(
                        400,
                        "Does not contain a valid address.",
                        f"personalizations.{i}.to.{j}.email",
                    )
                reason = self.faults.rejection_for(email)
                if reason:
                    return _err(400, reason, f"personalizations.{i}.to.{j}.email")
                recipients.append((i, email.lower()))
            if not (p.get("subject") or body.get("subject") or body.get("template_id")):
                return _err(400, "The subject is required.", "subject")
            args = {**(body.get("custom_args") or {}), **(p.get("custom_args") or {})}
            if any(not isinstance(v, str) for v in args.values()):
                return _err(
                    400, "custom_args values must be strings", f"personalizations.{i}.custom_args"
                )
            if len(json.dumps(args).encode()) > MAX_CUSTOM_ARGS_BYTES:
                return _err(
                    400,
                    f"custom_args may not exceed {MAX_CUSTOM_ARGS_BYTES} bytes",
                    f"personalizations.{i}.custom_args",
                )
        if len(recipients) > MAX_PERSONALIZATIONS:
            return _err(400, "at most 1000 recipients per request", "personalizations")
        message_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")[:22]
        for index, (i, email) in enumerate(recipients):
            p = pers[i]
            self.state.messages.append(
                {
                    "msg_id": f"{message_id}.filter0001.{index}",
                    "x_message_id": message_id,
                    "to_email": email,
                    "from_email": sender["email"],
                    "subject": p.get("subject") or body.get("subject") or "",
                    "template_id": body.get("template_id"),
                    "custom_args": {
                        **(body.get("custom_args") or {}),
                        **(p.get("custom_args") or {}),
                    },
                    "sent_at": time.time(),
                    "engaged": False,
                }
            )
        return Response(202, b"", {"X-Message-Id": message_id})

    def _activity(self, request: Request) -> Response:
        """Email Activity: ``query`` in SendGrid's language; we support ``=`` on unique_args, to_email, msg_id, joined by AND."""
        query = request.arg("query") or ""
        limit = int(request.arg("limit", "10") or 10)
        if not 1 <= limit <= 1000:
            return _err(400, "limit must be between 1 and 1000", "limit")
        clauses = list(_ACTIVITY_RX.finditer(query))
        if not clauses:
            return _err(400, "invalid query", "query")
        found = []
        for m in self.state.messages:
            ok = True
            for c in clauses:
                if c.group("arg"):
                    ok &= m["custom_args"].get(c.group("arg")) == c.group("value")
                elif c.group("col") == "to_email":
                    ok &= m["to_email"] == c.group("value").lower()
                else:
                    ok &= m["msg_id"] == c.group("value")
            if ok:
                found.append(m)
        out = [
            {
                "from_email": m["from_email"],
                "msg_id": m["msg_id"],
                "subject": m["subject"],
                "to_email": m["to_email"],
                "status": "delivered" if m["engaged"] else "processed",  # Status enum
                "opens_count": 0,
                "clicks_count": 0,
                "last_event_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m["sent_at"])),
            }
            for m in found[:limit]
        ]
        return Response.json({"messages": out})

    # ------------------------------------------------------------------ suppressions

    def _suppressions(self, kind: str):
        def handler(request: Request) -> Response:
            try:
                start = int(request.arg("start_time", "0") or 0)
                end = int(request.arg("end_time", str(2**31)) or 2**31)
                limit = int(request.arg("limit", "500") or 500)
                offset = int(request.arg("offset", "0") or 0)
            except ValueError:
                return _err(400, "start_time, end_time, limit and offset must be integers")
            if not 1 <= limit <= 500:
                return _err(400, "limit must be between 1 and 500", "limit")
            rows = sorted(
                (e for e in self.state.suppressions[kind].values() if start <= e["created"] <= end),
                key=lambda e: (e["created"], e["email"]),
            )
            return Response.json(rows[offset : offset + limit])

        return handler

    def suppress(self, kind: str, email: str, reason: str = "", created: int | None = None) -> None:
        """Add a suppression as SendGrid would (also used by tests to seed the lists)."""
        created = int(created if created is not None else time.time())
        entry: dict[str, Any] = {"email": email.lower(), "created": created}
        if kind in ("bounces", "blocks", "invalid_emails"):
            entry.update({"reason": reason or kind, "status": "5.1.1" if kind == "bounces" else ""})
        if kind == "spam_reports":
            entry["ip"] = SANDBOX_SENDING_IP  # required in SpamReportsResponse
        with self.lock:
            self.state.suppressions[kind][email.lower()] = entry

    # ------------------------------------------------------------------ engagement

    def generate_engagement(
        self, rates: EngagementRates | None = None, seed: int = 0, deliver: bool = True
    ) -> list[dict[str, Any]]:
        """Turn every not-yet-engaged sent message into events; POST them signed to ``webhook_url``.

        Suppressed recipients get ``dropped``; bounces/blocks/unsubscribes/spam
        reports also land in the suppression lists (what the pull reads back).
        """
        rates = rates or EngagementRates()
        rng = random.Random(seed)
        events: list[dict[str, Any]] = []
        with self.lock:
            for m in self.state.messages:
                if m["engaged"]:
                    continue
                m["engaged"] = True
                t = int(m["sent_at"])
                email = m["to_email"]

                def ev(
                    kind: str,
                    offset: int,
                    m: dict[str, Any] = m,
                    t: int = t,
                    email: str = email,
                    **extra: Any,
                ) -> None:
                    event = {
                        "email": email,
                        "timestamp": t + offset,
                        "event": kind,
                        "sg_event_id": base64.urlsafe_b64encode(
                            uuid.uuid4().bytes  # unique across calls, whatever the seed
                        )
                        .decode()
                        .rstrip("="),
                        "sg_message_id": m["msg_id"],
                        "smtp-id": f"<{m['x_message_id']}@ferry.sandbox>",
                        **m["custom_args"],
                        **extra,
                    }
                    events.append(event)

                suppressed = any(
                    email in self.state.suppressions[k]
                    for k in ("unsubscribes", "bounces", "spam_reports", "invalid_emails")
                )
                if suppressed:
                    ev(
                        "dropped",
                        0,
                        reason="Bounced Address"
                        if email in self.state.suppressions["bounces"]
                        else "Unsubscribed Address",
                    )
                    continue
                ev("processed", 0)
                roll = rng.random()
                if roll < rates.bounce:
                    ev(
                        "bounce",
                        5,
                        type="bounce",
                        reason="550 5.1.1 The email account that you tried to reach does not exist",
                        status="5.1.1",
                    )
                    self.state.suppressions["bounces"][email] = {
                        "email": email,
                        "created": t + 5,
                        "reason": "550 5.1.1 user unknown",
                        "status": "5.1.1",
                    }
                    continue
                if roll < rates.bounce + rates.blocked:
                    ev(
                        "bounce",
                        5,
                        type="blocked",
                        reason="550 blocked by recipient policy",
                        status="5.7.1",
                    )
                    self.state.suppressions["blocks"][email] = {
                        "email": email,
                        "created": t + 5,
                        "reason": "550 blocked",
                        "status": "5.7.1",
                    }
                    continue
                if rng.random() < rates.deferred:
                    ev("deferred", 5, response="451 4.7.1 try again later", attempt="1")
                ev("delivered", 10, response="250 OK")
                if rng.random() < rates.spamreport:
                    ev("spamreport", 30)
                    self.state.suppressions["spam_reports"][email] = {
                        "email": email,
                        "created": t + 30,
                        "ip": SANDBOX_SENDING_IP,
                    }
                    continue
                if rng.random() < rates.open:
                    ev("open", 60, useragent="Mozilla/5.0", ip="192.0.2.1")
                    if rng.random() < rates.click:
                        ev(
                            "click",
                            90,
                            url="https://example.com/offer",
                            useragent="Mozilla/5.0",
                            ip="192.0.2.1",
                        )
                    if rng.random() < rates.unsubscribe:
                        ev("unsubscribe", 120)
                        self.state.suppressions["unsubscribes"][email] = {
                            "email": email,
                            "created": t + 120,
                        }
            self.state.events.extend(events)
        if deliver and self.webhook_url and events:
            self.deliver(events)
        return events

    def sign(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        """The signed-webhook headers for ``body``: ECDSA P-256/SHA-256 over timestamp + body."""
        timestamp = timestamp or str(int(time.time()))
        signature = self._private_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }

    def deliver(self, events: list[dict[str, Any]], batch_size: int = 100) -> list[int]:
        """POST ``events`` in signed batches to ``webhook_url``; returns each batch's HTTP status."""
        if not self.webhook_url:
            raise RuntimeError("no webhook_url configured")
        statuses = []
        for i in range(0, len(events), batch_size):
            body = json.dumps(events[i : i + batch_size]).encode()
            statuses.append(post_webhook(self.webhook_url, body, self.sign(body)))
        return statuses


_LOCAL: SendGridSandbox | None = None


def local_sandbox() -> SendGridSandbox:
    """The process-wide sandbox a destination uses when no SendGrid credentials are set."""
    global _LOCAL
    if _LOCAL is None:
        _LOCAL = SendGridSandbox().start()
    return _LOCAL


def running_sandbox() -> SendGridSandbox | None:
    """The process-wide sandbox if something started it, else None (never starts one).

    For demo and test steps that act on what was sent to it (engagement generation).
    """
    return _LOCAL
