"""A local stand-in for Meta's Graph API custom-audience endpoints, on 127.0.0.1.

Serves what :mod:`connectors.meta.destination` uses, with Meta's contract:

- ``POST|DELETE /{version}/{audience_id}/users`` and ``POST .../usersreplace``
  taking form fields ``payload`` (JSON ``{schema, data}``), ``session`` (JSON) and
  ``access_token`` (also accepted as a query parameter or an ``Authorization:
  Bearer|OAuth`` header). Validation: known schema keys, every row as long as
  the schema, hashed keys as 64 lowercase hex (or ``""``), at most 10,000 rows.
  A malformed row is an *invalid entry* (counted, sampled ``value -> reason``);
  a malformed request is ``(#100) Invalid parameter``.
- ``GET /{version}/{audience_id}?fields=approximate_count_lower_bound,...``.
- Errors in Meta's shape ``{"error": {message, type, code, error_subcode,
  fbtrace_id}}`` with HTTP 400; a bad token is code 190; throttling is code 17
  (configurable: 4, 32, 613, 80003...) with ``X-Business-Use-Case-Usage`` and no
  ``Retry-After``, as Meta does.
- Matching: a configurable, deterministic share of uploaded people "match"; the
  approximate size counts matched people, but an audience under the ~100 floor
  reports no size, and removals that would take it under the floor are not
  reflected (Meta's privacy floor).

``state.audiences[audience_id]`` is what the vendor now holds.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from connectors.hashing import META_KEYS, META_UNHASHED, SHA256_HEX
from connectors.sandbox import Request, Response, SandboxServer, TokenBucket

MAX_USERS = 10_000
IDENTITY_ORDER = ("EMAIL", "PHONE", "EXTERN_ID", "MADID")


FLAGGED_REASON = (
    "This custom audience has been flagged because it may suggest information that is "
    "not permitted under our terms. Edit the audience or request a review."
)


@dataclass
class ReplaceSession:
    session_id: int
    estimated_num_total: int
    last_activity: float = 0.0
    next_seq: int = 1
    members: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class AudienceState:
    """One custom audience: members keyed by their first strong identifier."""

    audience_id: str
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    replace: ReplaceSession | None = None
    reported_size: int = 0  # last size reported at or above the floor
    flagged: str | None = None  # Meta's reason when the audience is flagged (see flag())
    replaced_sessions: list[int] = field(default_factory=list)

    def values(self, key: str) -> set[str]:
        """Every value held for one schema key, e.g. ``values("EMAIL")`` -> hashed emails."""
        return {m[key] for m in self.members.values() if m.get(key)}


@dataclass
class MetaState:
    audiences: dict[str, AudienceState] = field(default_factory=dict)


def member_id(row: dict[str, str]) -> str:
    for key in IDENTITY_ORDER:
        if row.get(key):
            return f"{key}:{row[key]}"
    return "ROW:" + hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()


class MetaSandbox(SandboxServer):
    vendor = "meta"
    DEFAULT_TOKEN = "sandbox-meta-token"

    def __init__(
        self,
        *,
        access_token: str = DEFAULT_TOKEN,
        match_rate: float = 1.0,
        floor: int = 100,
        max_users: int = MAX_USERS,
        rate_limit_code: int = 17,
        replace_timeout: float = 90 * 60.0,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.match_rate = match_rate
        self.floor = floor
        self.max_users = max_users
        self.rate_limit_code = rate_limit_code
        self.replace_timeout = replace_timeout  # an abandoned replace session expires
        self.state = MetaState()
        self.route("POST", "/{version}/{audience_id}/users", self._add)
        self.route("DELETE", "/{version}/{audience_id}/users", self._remove)
        self.route("POST", "/{version}/{audience_id}/usersreplace", self._replace)
        self.route("GET", "/{version}/{audience_id}", self._read)

    # ----- vendor hooks

    def error_response(self, status: int, message: str, request: Request | None = None,
                       *, code: int | None = None, subcode: int | None = None,
                       transient: bool = False) -> Response:
        error: dict[str, Any] = {
            "message": message,
            "type": "OAuthException",
            "code": code if code is not None else (1 if status >= 500 else 100),
            "fbtrace_id": secrets.token_hex(8),
        }
        if subcode is not None:
            error["error_subcode"] = subcode
        if transient or status >= 500:
            error["is_transient"] = True
        return Response.json({"error": error}, status)

    def authenticate(self, request: Request) -> Response | None:
        token = request.arg("access_token")
        header = request.header("Authorization") or ""
        if header.split(" ", 1)[0] in ("Bearer", "OAuth") and " " in header:
            token = header.split(" ", 1)[1].strip()
        if token is None and "x-www-form-urlencoded" in (request.header("Content-Type") or ""):
            token = request.form().get("access_token")
        if token != self.access_token:
            return self.error_response(400, "Invalid OAuth access token - Cannot parse access token", request, code=190)
        return None

    def too_many_requests(self, request: Request, bucket: TokenBucket, retry_after: float) -> Response:
        response = self.error_response(
            400,
            f"(#{self.rate_limit_code}) User request limit reached",
            request,
            code=self.rate_limit_code,
            transient=self.rate_limit_code in (80003, 80004),
        )
        usage = {"sandbox": [{"type": "CUSTOM_AUDIENCE", "call_count": 100, "total_cputime": 0,
                              "total_time": 0, "estimated_time_to_regain_access": 0}]}
        response.headers["X-Business-Use-Case-Usage"] = json.dumps(usage)
        return response

    # ----- helpers

    def audience(self, audience_id: str) -> AudienceState:
        with self.lock:
            return self.state.audiences.setdefault(audience_id, AudienceState(audience_id))

    def flag(self, audience_id: str, reason: str = FLAGGED_REASON) -> None:
        """Flag an audience as Meta does since September 2025 (terms: it suggests health or
        financial status): writes answer error 100/1713230, reads ``operation_status`` 471."""
        with self.lock:
            self.audience(audience_id).flagged = reason

    def _writable(self, request: Request) -> AudienceState | Response:
        aud = self._known(request)
        if isinstance(aud, AudienceState) and aud.flagged:
            return self.error_response(400, aud.flagged, request, code=100, subcode=1713230)
        return aud

    def _known(self, request: Request) -> AudienceState | Response:
        if not request.params["version"].startswith("v"):
            return self.error_response(400, "Unknown path components", request, code=2500)
        aid = request.params["audience_id"]
        if not aid.isdigit():
            return self.error_response(
                400, f"Unsupported request. Object with ID '{aid}' does not exist", request, code=100, subcode=33
            )
        return self.audience(aid)

    def _parse_payload(self, request: Request) -> tuple[list[str], list[list[Any]]] | Response:
        form = request.form()
        raw = form.get("payload")
        if raw is None:
            return self.error_response(400, "(#100) The parameter payload is required", request)
        try:
            payload = json.loads(raw)
        except ValueError:
            return self.error_response(400, "(#100) Param payload must be a JSON object", request)
        schema = payload.get("schema") if isinstance(payload, dict) else None
        data = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(schema, str):
            schema = [schema]
        if not isinstance(schema, list) or not schema or not isinstance(data, list):
            return self.error_response(400, "(#100) payload needs schema and data", request)
        unknown = [k for k in schema if k not in META_KEYS]
        if unknown or len(set(schema)) != len(schema):
            return self.error_response(400, f"(#100) Invalid schema fields: {unknown or 'duplicates'}", request)
        if len(data) > self.max_users:
            return self.error_response(
                400, f"(#100) Too many users in one request: at most {self.max_users}", request, subcode=1870065
            )
        if not data:
            return self.error_response(400, "(#100) payload data is empty", request)
        return schema, data

    def _validate_rows(
        self, schema: list[str], data: list[list[Any]]
    ) -> tuple[list[dict[str, str]], int, dict[str, str]]:
        valid: list[dict[str, str]] = []
        invalid = 0
        samples: dict[str, str] = {}
        for row in data:
            reason = None
            sample = json.dumps(row)[:80]
            if not isinstance(row, list) or len(row) != len(schema):
                reason = "row length does not match schema"
            else:
                for key, value in zip(schema, row):
                    if not isinstance(value, str):
                        reason, sample = f"{key} is not a string", str(value)
                        break
                    if value and key not in META_UNHASHED and not SHA256_HEX.match(value):
                        reason, sample = f"{key} is not a SHA-256 hex hash", value
                        break
                    rejection = self.faults.rejection_for(value) if value else None
                    if rejection:
                        reason, sample = rejection, value
                        break
                if reason is None and not any(row):
                    reason = "no identifier"
            if reason is None:
                valid.append(dict(zip(schema, row)))
            else:
                invalid += 1
                if len(samples) < 100:
                    samples[sample] = reason
        return valid, invalid, samples

    def _answer(self, aud: AudienceState, received: int, invalid: int, samples: dict[str, str],
                session_id: int | None = None) -> Response:
        return Response.json(
            {
                "audience_id": aud.audience_id,
                "session_id": str(session_id if session_id is not None else secrets.randbits(52)),
                "num_received": received,
                "num_invalid_entries": invalid,
                "invalid_entry_samples": samples,
            }
        )

    @staticmethod
    def _upsert(members: dict[str, dict[str, str]], row: dict[str, str]) -> None:
        mid = member_id(row)
        current = members.get(mid, {})
        current.update({k: v for k, v in row.items() if v})
        members[mid] = current

    # ----- routes

    def _add(self, request: Request) -> Response:
        aud = self._writable(request)
        if isinstance(aud, Response):
            return aud
        parsed = self._parse_payload(request)
        if isinstance(parsed, Response):
            return parsed
        valid, invalid, samples = self._validate_rows(*parsed)
        for row in valid:
            self._upsert(aud.members, row)
        return self._answer(aud, len(parsed[1]), invalid, samples)

    def _remove(self, request: Request) -> Response:
        aud = self._writable(request)
        if isinstance(aud, Response):
            return aud
        parsed = self._parse_payload(request)
        if isinstance(parsed, Response):
            return parsed
        valid, invalid, samples = self._validate_rows(*parsed)
        for row in valid:
            aud.members.pop(member_id(row), None)
        return self._answer(aud, len(parsed[1]), invalid, samples)

    def _replace(self, request: Request) -> Response:
        aud = self._writable(request)
        if isinstance(aud, Response):
            return aud
        raw_session = request.form().get("session")
        try:
            session = json.loads(raw_session) if raw_session else None
        except ValueError:
            session = None
        if not isinstance(session, dict) or not isinstance(session.get("session_id"), int):
            return self.error_response(400, "(#100) session with an integer session_id is required", request)
        seq = session.get("batch_seq")
        if not isinstance(seq, int) or seq < 1:
            return self.error_response(400, "(#100) session batch_seq must be an integer from 1", request)
        sid = session["session_id"]
        if aud.replace is not None and self.clock() - aud.replace.last_activity > self.replace_timeout:
            aud.replace = None  # abandoned: Meta drops it and the audience keeps its members
        if aud.replace is not None and aud.replace.session_id != sid:
            if seq == 1:
                return self.error_response(
                    400, "Failed to update the custom audience: a replace session is in progress", request,
                    code=2650, subcode=1870145,
                )
            return self.error_response(400, "(#100) unknown replace session", request)
        if aud.replace is None:
            if seq != 1:
                return self.error_response(400, "(#100) a replace session starts at batch_seq 1", request)
            aud.replace = ReplaceSession(sid, int(session.get("estimated_num_total") or 0), self.clock())
        if seq != aud.replace.next_seq:
            return self.error_response(400, f"(#100) expected batch_seq {aud.replace.next_seq}", request)
        parsed = self._parse_payload(request)
        if isinstance(parsed, Response):
            return parsed
        valid, invalid, samples = self._validate_rows(*parsed)
        for row in valid:
            self._upsert(aud.replace.members, row)
        aud.replace.next_seq += 1
        aud.replace.last_activity = self.clock()
        if session.get("last_batch_flag") is True:
            aud.members = aud.replace.members
            aud.replaced_sessions.append(sid)
            aud.replace = None
        return self._answer(aud, len(parsed[1]), invalid, samples, session_id=sid)

    def matched(self, aud: AudienceState) -> int:
        """Members Meta "matched": a deterministic ``match_rate`` share of them."""
        threshold = int(self.match_rate * 10_000)
        return sum(
            1 for mid in aud.members if int(hashlib.sha256(mid.encode()).hexdigest()[:8], 16) % 10_000 < threshold
        )

    def _read(self, request: Request) -> Response:
        aud = self._known(request)
        if isinstance(aud, Response):
            return aud
        fields = [f for f in (request.arg("fields") or "id").split(",") if f]
        matched = self.matched(aud)
        if matched >= self.floor:
            aud.reported_size = matched
        reported = aud.reported_size  # under the floor: the last deliverable size (or nothing)
        body: dict[str, Any] = {"id": aud.audience_id}
        for f in fields:
            if f == "approximate_count_lower_bound":
                body[f] = reported
            elif f == "approximate_count_upper_bound":
                body[f] = int(math.ceil(reported * 1.1))
            elif f == "operation_status":
                body[f] = (
                    {"code": 471, "description": aud.flagged}
                    if aud.flagged
                    else {"code": 200, "description": "Normal"}
                )
            elif f == "delivery_status":
                body[f] = (
                    {"code": 200, "description": "This audience is ready for use."}
                    if matched >= self.floor
                    else {"code": 300, "description": "This audience is too small to deliver."}
                )
            elif f not in ("id",):
                return self.error_response(400, f"(#100) Tried accessing nonexisting field ({f})", request)
        return Response.json(body)


SANDBOX_AUDIENCE_ID = "23850000000000"
_LOCAL: MetaSandbox | None = None


def local_sandbox() -> MetaSandbox:
    """The process-wide sandbox a Meta destination uses when no access token is set.

    Three in four uploaded people "match", so the demo shows a realistic match rate.
    """
    global _LOCAL
    if _LOCAL is None:
        _LOCAL = MetaSandbox(match_rate=0.75).start()  # type: ignore[assignment]
    return _LOCAL  # type: ignore[return-value]


def _standalone() -> tuple[MetaSandbox, dict[str, str]]:
    sb = MetaSandbox(match_rate=0.75).start()
    return sb, {"META_BASE_URL": sb.base_url, "META_AUDIENCE_ID": SANDBOX_AUDIENCE_ID}  # type: ignore[attr-defined]


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
