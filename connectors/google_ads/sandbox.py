"""A local stand-in for the Google Ads API (REST) Customer Match flow, on 127.0.0.1.

Serves, with Google's contract (see connectors/google_ads/destination.py):

- ``POST /{version}/customers/{cid}/offlineUserDataJobs:create`` (type
  CUSTOMER_MATCH_USER_LIST, consent GRANTED required) -> ``{"resourceName"}``;
- ``POST /{version}/customers/{cid}/offlineUserDataJobs/{id}:addOperations``:
  only while the job is PENDING; <= 100,000 identifiers per request (else the
  whole request fails), <= 20 per operation, each identifier exactly one field,
  hashes as 64 lowercase hex, addressInfo complete. With ``enablePartialFailure``
  bad operations come back in ``partialFailureError`` (GoogleAdsFailure with the
  operation index) and the rest are kept; without it one bad operation fails all;
- ``POST .../offlineUserDataJobs/{id}:run`` -> a long-running operation; the job
  goes RUNNING, and after ``polls_to_finish`` status reads it is applied to the
  user list and SUCCESS (or FAILED when a test arms ``fail_next_job``). Running a
  job while another runs on the same list -> ``CONCURRENT_MODIFICATION``;
- ``POST /{version}/customers/{cid}/googleAds:search`` for the small GAQL subset
  the connector uses (offline_user_data_job by resource name or by status and
  user list; user_list sizes);
- ``POST /token`` (OAuth refresh-token grant) for the token exchange.

Auth: ``Authorization: Bearer <token>`` (401 UNAUTHENTICATED) and
``developer-token`` (403 PERMISSION_DENIED). Errors are google.rpc.Status with
GoogleAdsFailure details; the rate limit is 429 RESOURCE_EXHAUSTED.
``state.user_lists[resource]`` holds the members (sets of identifiers).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from connectors.hashing import SHA256_HEX
from connectors.sandbox import Request, Response, SandboxServer, TokenBucket

MAX_IDS_PER_REQUEST = 100_000
MAX_IDS_PER_USER = 20
HASHED = ("hashedEmail", "hashedPhoneNumber")
ONE_OF = ("hashedEmail", "hashedPhoneNumber", "addressInfo", "thirdPartyUserId", "mobileId")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
RPC_CODE = {"INVALID_ARGUMENT": 3, "UNAUTHENTICATED": 16, "PERMISSION_DENIED": 7, "NOT_FOUND": 5,
            "ABORTED": 10, "RESOURCE_EXHAUSTED": 8, "INTERNAL": 13, "UNAVAILABLE": 14}


@dataclass
class Job:
    resource_name: str
    user_list: str
    status: str = "PENDING"
    operations: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0
    failure_reason: str | None = None


@dataclass
class UserList:
    """Members as sets of ``(identifier kind, value)``; people sharing an identifier are one member."""

    resource_name: str
    members: dict[int, frozenset[tuple[str, str]]] = field(default_factory=dict)
    index: dict[tuple[str, str], int] = field(default_factory=dict)
    next_id: int = 0

    def add(self, ids: frozenset[tuple[str, str]]) -> None:
        hits = {self.index[i] for i in ids if i in self.index}
        merged = frozenset(ids.union(*(self.members.pop(h) for h in hits)))
        self.next_id += 1
        self.members[self.next_id] = merged
        for ident in merged:
            self.index[ident] = self.next_id

    def remove(self, ids: frozenset[tuple[str, str]]) -> None:
        for mid in {self.index[i] for i in ids if i in self.index}:
            for ident in self.members.pop(mid):
                self.index.pop(ident, None)

    def clear(self) -> None:
        self.members.clear()
        self.index.clear()

    def identifiers(self, kind: str) -> set[str]:
        """Every value of one identifier kind held, e.g. ``identifiers("hashedEmail")``."""
        return {v for (k, v) in self.index if k == kind}

    def size(self) -> int:
        return len(self.members)


@dataclass
class GoogleAdsState:
    jobs: dict[str, Job] = field(default_factory=dict)
    user_lists: dict[str, UserList] = field(default_factory=dict)


def _identity(identifier: dict[str, Any]) -> tuple[str, str]:
    (kind, value), = identifier.items()
    if kind == "addressInfo":
        value = "|".join(str(value.get(k, "")) for k in ("hashedFirstName", "hashedLastName", "countryCode", "postalCode"))
    return kind, str(value)


class GoogleAdsSandbox(SandboxServer):
    vendor = "google_ads"

    def __init__(
        self,
        *,
        access_token: str = "sandbox-google-token",
        developer_token: str = "sandbox-dev-token",
        refresh_token: str = "sandbox-refresh-token",
        polls_to_finish: int = 2,
        match_rate: float = 1.0,
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.developer_token = developer_token
        self.refresh_token = refresh_token
        self.polls_to_finish = polls_to_finish
        self.match_rate = match_rate  # share of uploaded people Google "matches" (list sizes)
        self.state = GoogleAdsState()
        self._ids = itertools.count(9_000_001)
        self._fail_jobs: list[str] = []
        self.route("POST", "/token", self._token, bucket="oauth")
        self.route("POST", "/{version}/customers/{cid}/offlineUserDataJobs:create", self._create)
        self.route("POST", "/{version}/customers/{cid}/offlineUserDataJobs/{job_id}:addOperations", self._add)
        self.route("POST", "/{version}/customers/{cid}/offlineUserDataJobs/{job_id}:run", self._run)
        self.route("POST", "/{version}/customers/{cid}/googleAds:search", self._search)

    # ----- vendor hooks

    def error_response(self, status: int, message: str, request: Request | None = None,
                       *, errors: list[dict[str, Any]] | None = None) -> Response:
        name = STATUS.get(status, "UNKNOWN")
        body: dict[str, Any] = {"code": status, "message": message, "status": name}
        if errors:
            body["details"] = [{
                "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                "errors": errors,
                "requestId": "sandbox",
            }]
        return Response.json({"error": body}, status)

    def authenticate(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        if request.header("Authorization") != f"Bearer {self.access_token}":
            return self.error_response(401, "Request is missing required authentication credential.", request,
                                       errors=[{"errorCode": {"authenticationError": "AUTHENTICATION_ERROR"},
                                                "message": "Authentication of the request failed."}])
        if request.header("developer-token") != self.developer_token:
            return self.error_response(403, "The developer token is not valid.", request,
                                       errors=[{"errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
                                                "message": "The developer token is not valid."}])
        return None

    def too_many_requests(self, request: Request, bucket: TokenBucket, retry_after: float) -> Response:
        response = self.error_response(429, "Resource has been exhausted (e.g. check quota).", request,
                                       errors=[{"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                                                "message": "Too many requests. Retry in a moment."}])
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        return response

    def fail_next_job(self, reason: str = "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS") -> None:
        """The next job that runs ends FAILED with this failure reason."""
        with self.lock:
            self._fail_jobs.append(reason)

    def user_list(self, resource_name: str) -> UserList:
        with self.lock:
            return self.state.user_lists.setdefault(resource_name, UserList(resource_name))

    # ----- routes

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token \
                or not form.get("client_id") or not form.get("client_secret"):
            return Response.json({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        return Response.json({"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"})

    def _invalid(self, message: str, code: dict[str, str], request: Request) -> Response:
        return self.error_response(400, "Request contains an invalid argument.", request,
                                   errors=[{"errorCode": code, "message": message}])

    def _create(self, request: Request) -> Response:
        job = (request.json() or {}).get("job") or {}
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST":
            return self._invalid("Unsupported job type.", {"offlineUserDataJobError": "INVALID_JOB_TYPE"}, request)
        meta = job.get("customerMatchUserListMetadata") or {}
        user_list = meta.get("userList") or ""
        if not re.fullmatch(rf"customers/{request.params['cid']}/userLists/\d+", user_list):
            return self._invalid("The user list is invalid.", {"offlineUserDataJobError": "INVALID_USER_LIST_ID"},
                                 request)
        consent = meta.get("consent") or {}
        if consent.get("adUserData") != "GRANTED" or consent.get("adPersonalization") != "GRANTED":
            return self._invalid("Consent for ad user data and personalization must be GRANTED.",
                                 {"offlineUserDataJobError": "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS"}, request)
        name = f"customers/{request.params['cid']}/offlineUserDataJobs/{next(self._ids)}"
        self.state.jobs[name] = Job(name, user_list)
        self.user_list(user_list)
        return Response.json({"resourceName": name})

    def _job(self, request: Request) -> Job | Response:
        name = f"customers/{request.params['cid']}/offlineUserDataJobs/{request.params['job_id']}"
        job = self.state.jobs.get(name)
        if job is None:
            return self.error_response(404, f"Resource {name} not found.", request)
        return job

    def _operation_error(self, op: Any) -> tuple[str, str] | None:
        if not isinstance(op, dict) or len(op) != 1:
            return "OPERATION_NOT_SET", "Exactly one of create, remove or removeAll must be set."
        (kind, data), = op.items()
        if kind == "removeAll":
            return None if data is True else ("INVALID_REMOVE_ALL", "removeAll must be true.")
        if kind not in ("create", "remove") or not isinstance(data, dict):
            return "OPERATION_NOT_SET", "Exactly one of create, remove or removeAll must be set."
        ids = data.get("userIdentifiers")
        if not isinstance(ids, list) or not ids:
            return "USER_IDENTIFIERS_REQUIRED", "At least one user identifier is required."
        if len(ids) > MAX_IDS_PER_USER:
            return "TOO_MANY_USER_IDENTIFIERS", f"At most {MAX_IDS_PER_USER} user identifiers per user."
        for ident in ids:
            if not isinstance(ident, dict) or len(ident) != 1 or next(iter(ident)) not in ONE_OF:
                return "INVALID_USER_IDENTIFIER", "Each user identifier sets exactly one field."
            (field_name, value), = ident.items()
            if field_name in HASHED and not (isinstance(value, str) and SHA256_HEX.match(value)):
                return "INVALID_SHA256_FORMAT", f"{field_name} is not a SHA-256 hex digest."
            if field_name == "addressInfo":
                if not isinstance(value, dict) or not all(
                    isinstance(value.get(k), str) and SHA256_HEX.match(value[k])
                    for k in ("hashedFirstName", "hashedLastName")
                ) or not value.get("countryCode") or not value.get("postalCode"):
                    return "INCOMPATIBLE_UPLOAD_KEY_TYPE", "addressInfo needs hashed names, countryCode, postalCode."
            if isinstance(value, str) and self.faults.rejection_for(value):
                return "INVALID_USER_IDENTIFIER", str(self.faults.rejection_for(value))
        return None

    def _add(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        body = request.json() or {}
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            return self._invalid("operations is required.", {"requestError": "REQUIRED_FIELD_MISSING"}, request)
        if job.status != "PENDING":
            return self._invalid("The job is not PENDING: operations can no longer be added.",
                                 {"offlineUserDataJobError": "INVALID_JOB_STATUS"}, request)
        total = sum(len((op.get("create") or op.get("remove") or {}).get("userIdentifiers") or [])
                    for op in operations if isinstance(op, dict))
        if total > MAX_IDS_PER_REQUEST:
            return self._invalid(f"Too many user identifiers in one request ({total} > {MAX_IDS_PER_REQUEST}).",
                                 {"offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"}, request)
        errors = []
        for index, op in enumerate(operations):
            problem = self._operation_error(op)
            if problem:
                kind = next(iter(op)) if isinstance(op, dict) and op else "operation"
                errors.append({
                    "errorCode": {"offlineUserDataJobError": problem[0]},
                    "message": problem[1],
                    "location": {"fieldPathElements": [{"fieldName": "operations", "index": index},
                                                       {"fieldName": kind}]},
                })
        if errors and not body.get("enablePartialFailure"):
            return self.error_response(400, "Request contains an invalid argument.", request, errors=errors)
        bad = {e["location"]["fieldPathElements"][0]["index"] for e in errors}
        job.operations.extend(op for i, op in enumerate(operations) if i not in bad)
        answer: dict[str, Any] = {}
        if errors:
            answer["partialFailureError"] = {
                "code": 3,
                "message": f"{len(errors)} operation(s) failed.",
                "details": [{"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
                             "errors": errors}],
            }
        return Response.json(answer)

    def _run(self, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        if job.status != "PENDING":
            return self._invalid("The job has already been run.", {"offlineUserDataJobError": "INVALID_JOB_STATUS"},
                                 request)
        if any(j.status == "RUNNING" and j.user_list == job.user_list for j in self.state.jobs.values()):
            return self.error_response(409, "Multiple requests were attempting to modify the same resource.",
                                       request, errors=[{"errorCode": {"databaseError": "CONCURRENT_MODIFICATION"},
                                                         "message": "Another job is running on this user list."}])
        job.status = "RUNNING"
        return Response.json({"name": f"customers/{request.params['cid']}/operations/{job.resource_name.rsplit('/', 1)[1]}"})

    def _progress(self, job: Job) -> None:
        """A status read moves a RUNNING job on; after ``polls_to_finish`` it is applied."""
        if job.status != "RUNNING":
            return
        job.polls += 1
        if job.polls < self.polls_to_finish:
            return
        if self._fail_jobs:
            job.status, job.failure_reason = "FAILED", self._fail_jobs.pop(0)
            return
        user_list = self.user_list(job.user_list)
        for op in job.operations:
            (kind, data), = op.items()
            if kind == "removeAll":
                user_list.clear()
                continue
            ids = frozenset(_identity(i) for i in data["userIdentifiers"])
            if kind == "create":
                user_list.add(ids)
            else:
                user_list.remove(ids)
        job.status = "SUCCESS"

    def matched(self, user_list: UserList) -> int:
        """Members Google "matched": a deterministic ``match_rate`` share (int64 as a string in JSON)."""
        threshold = int(self.match_rate * 10_000)
        return sum(
            1 for m in user_list.members.values()
            if int(hashlib.sha256("|".join(sorted(f"{k}:{v}" for k, v in m)).encode()).hexdigest()[:8], 16) % 10_000
            < threshold
        )

    def _search(self, request: Request) -> Response:
        query = " ".join(str((request.json() or {}).get("query", "")).split())
        m = re.search(r"FROM (\w+)", query)
        if not m:
            return self._invalid("Error in query: no FROM clause.", {"queryError": "EXPECTED_FROM"}, request)
        if m.group(1) == "offline_user_data_job":
            by_name = re.search(r"offline_user_data_job\.resource_name = '([^']+)'", query)
            by_list = re.search(r"customer_match_user_list_metadata\.user_list = '([^']+)'", query)
            by_status = re.search(r"offline_user_data_job\.status IN \(([^)]*)\)", query)
            statuses = set(re.findall(r"'(\w+)'", by_status.group(1))) if by_status else None
            rows = []
            for job in self.state.jobs.values():
                if by_name and job.resource_name != by_name.group(1):
                    continue
                if by_list and job.user_list != by_list.group(1):
                    continue
                if by_name:
                    self._progress(job)  # polling one job lets it progress
                if statuses is not None and job.status not in statuses:
                    continue
                row = {"resourceName": job.resource_name, "id": job.resource_name.rsplit("/", 1)[1],
                       "status": job.status, "type": "CUSTOMER_MATCH_USER_LIST",
                       "customerMatchUserListMetadata": {"userList": job.user_list}}
                if job.failure_reason:
                    row["failureReason"] = job.failure_reason
                rows.append({"offlineUserDataJob": row})
            return Response.json({"results": rows, "fieldMask": "offlineUserDataJob.status"})
        if m.group(1) == "user_list":
            name = re.search(r"user_list\.resource_name = '([^']+)'", query)
            lists = [self.state.user_lists[name.group(1)]] if name and name.group(1) in self.state.user_lists else []
            return Response.json({"results": [
                {"userList": {"resourceName": ul.resource_name, "sizeForDisplay": str(self.matched(ul)),
                              "sizeForSearch": str(self.matched(ul))}} for ul in lists
            ]})
        return self._invalid(f"Resource {m.group(1)} is not served by the sandbox.",
                             {"queryError": "INVALID_RESOURCE_NAME"}, request)


SANDBOX_CUSTOMER_ID = "1234567890"
SANDBOX_USER_LIST_ID = "555"
_LOCAL: GoogleAdsSandbox | None = None


def local_sandbox() -> GoogleAdsSandbox:
    """The process-wide sandbox a Google Ads destination uses when no OAuth credentials are set."""
    global _LOCAL
    if _LOCAL is None:
        _LOCAL = GoogleAdsSandbox(match_rate=0.6).start()  # type: ignore[assignment]
    return _LOCAL  # type: ignore[return-value]


def _standalone() -> tuple[GoogleAdsSandbox, dict[str, str]]:
    sb = GoogleAdsSandbox(match_rate=0.6).start()
    return sb, {"GOOGLE_ADS_BASE_URL": sb.base_url}  # type: ignore[attr-defined]


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
