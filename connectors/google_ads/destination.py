"""Google Ads Customer Match: the Data Manager API by default, offline user data jobs as legacy.

``type: google_ads`` builds :class:`connectors.google_ads.datamanager.GoogleDataManagerAudience`
(Google's current path for Customer Match). ``api: google_ads_legacy`` builds
:class:`GoogleAdsCustomerMatch` below: the Google Ads API's OfflineUserDataJob flow,
kept for developer tokens that were already uploading there (others are refused
with ``CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE``). One type, because it is one
destination (the same list in the same account); the option picks the API.

Legacy path (REST mapping of the Google Ads API):

Contract followed (../shared/api/google-ads.md; Google Ads API guides "Customer
Match" and ``add_customer_match_user_list.py`` in googleads/google-ads-python):

1. ``POST /v{N}/customers/{cid}/offlineUserDataJobs:create`` with a
   ``CUSTOMER_MATCH_USER_LIST`` job whose metadata names the user list and
   carries consent (``adUserData``/``adPersonalization`` GRANTED: required).
2. ``POST /v{N}/{job}:addOperations`` with ``enablePartialFailure: true``:
   ``create`` (add) or ``remove`` operations of ``UserData{userIdentifiers}``; at
   most 100,000 identifiers per request and 20 per user. A
   ``partialFailureError`` (google.rpc.Status with GoogleAdsFailure details)
   names failing operations by index (``location.fieldPathElements[0].index``),
   which we map back to records.
3. ``POST /v{N}/{job}:run``; 4. poll ``googleAds:search`` for
   ``offline_user_data_job.status`` until ``SUCCESS`` or ``FAILED``.

Jobs on one user list must not overlap (``CONCURRENT_MODIFICATION``): before a
job runs we look for a PENDING/RUNNING job on the list through search and wait
for it. Removes and adds go in separate jobs (removes first), one after another.

Auth: ``Authorization: Bearer <OAuth access token>`` and ``developer-token``
(plus ``login-customer-id`` for a manager account). With a refresh token and
client id/secret instead of an access token, one is fetched from the OAuth token
endpoint. Tokens only travel in headers; the HTTP layer never logs them.

Google processes jobs for minutes to hours. We poll for ``job_wait_seconds``;
a job still running then is, by default, taken as accepted (its operations were
validated by ``addOperations``) and its resource name returned as each record's
``destination_id``; ``job_status()`` reads it later. Set
``accept_running_jobs: false`` to keep such records RETRYABLE instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from connectors import hashing
from connectors.base import (
    AuthError,
    Capabilities,
    MissingCredentials,
    Operation,
    Outcome,
    Record,
    RecordResult,
    RejectedError,
    RetryableError,
    parse_options,
    sandbox_chosen,
)
from connectors.http import HttpClient

log = logging.getLogger(__name__)

API_URL = "https://googleads.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
DEFAULT_VERSION = "v26"  # Google Ads API versions sunset after ~1 year; override with api_version
MAX_IDENTIFIERS_PER_REQUEST = 100_000
MAX_IDENTIFIERS_PER_USER = 20
IDENTIFIERS = frozenset({"email", "phone", "first_name", "last_name", "country", "postcode", "external_id", "madid"})
DONE = frozenset({"SUCCESS", "FAILED"})


class GoogleAdsOptions(BaseModel):
    """Options of a ``type: google_ads`` destination in dbt_project/destinations.yml."""

    model_config = ConfigDict(extra="forbid")

    api: Literal["google_ads_legacy"] = "google_ads_legacy"
    sandbox: bool | None = None  # true: the local sandbox; default: FERRY_SANDBOX
    customer_id: str | None = Field(None, pattern=r"^\d+$")  # all three default to the sandbox's
    user_list_id: str | None = Field(None, pattern=r"^\d+$")  # when no OAuth credentials are set
    developer_token: str | None = Field(None, min_length=1)
    access_token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str = TOKEN_URL
    login_customer_id: str | None = Field(None, pattern=r"^\d+$")
    base_url: str | None = None  # default https://googleads.googleapis.com
    api_version: str = DEFAULT_VERSION
    ad_user_data: Literal["GRANTED"] = "GRANTED"  # only consented people are synced (engine policy)
    ad_personalization: Literal["GRANTED"] = "GRANTED"
    default_country: str | None = None
    max_identifiers_per_request: int = Field(MAX_IDENTIFIERS_PER_REQUEST, ge=MAX_IDENTIFIERS_PER_USER,
                                             le=MAX_IDENTIFIERS_PER_REQUEST)
    poll_interval: float | None = Field(None, ge=0)  # default 10 s (0.05 s against the sandbox)
    job_wait_seconds: float = Field(600.0, ge=0)
    accept_running_jobs: bool = True
    timeout: float = 60.0
    max_attempts: int = 6
    backoff_initial: float = 0.5


def google_failure_errors(status: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The GoogleAdsFailure errors inside a google.rpc.Status (``partialFailureError`` or ``error``)."""
    if not status:
        return []
    out: list[dict[str, Any]] = []
    for detail in status.get("details") or []:
        if "GoogleAdsFailure" in str(detail.get("@type", "")):
            out.extend(detail.get("errors") or [])
    return out


def operation_index(error: dict[str, Any]) -> int | None:
    for element in (error.get("location") or {}).get("fieldPathElements") or []:
        if element.get("fieldName") == "operations" and "index" in element:
            return int(element["index"])
    return None


def _error_code(error: dict[str, Any]) -> str:
    code = error.get("errorCode") or {}
    return ".".join(f"{k}.{v}" for k, v in code.items()) or "UNKNOWN"


def _describe(response: requests.Response) -> str:
    try:
        status = response.json().get("error") or {}
    except ValueError:
        return f"HTTP {response.status_code}"
    codes = ", ".join(_error_code(e) for e in google_failure_errors(status))
    return f"google ads {status.get('status', response.status_code)}: {codes or str(status.get('message', ''))[:200]}"


class GoogleAdsCustomerMatch:
    """A :class:`connectors.base.Destination` for one Customer Match user list."""

    options_model = GoogleAdsOptions  # checked when syncs load (syncs.registry.option_errors)

    name = "google_ads"
    capabilities = Capabilities(
        modes=frozenset({"upsert", "mirror", "insert", "delete"}),
        identifiers=IDENTIFIERS,
        # one batch is one job's worth of people: 100,000 identifiers / at most 20 per person
        max_batch_records=MAX_IDENTIFIERS_PER_REQUEST // MAX_IDENTIFIERS_PER_USER,
        max_batch_bytes=None,
        max_requests_per_second=1.0,  # jobs are heavy; the developer-token quota is per day
        max_concurrency=1,  # jobs on one list must not overlap
        min_audience_size=None,  # Google needs ~1,000 active users to serve, but sizes are its own
        hashes_identifiers=True,
    )

    def __init__(self, options: GoogleAdsOptions, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.is_sandbox = bool(options.sandbox) or (not options.access_token and not options.refresh_token)
        if self.is_sandbox and not sandbox_chosen(options.sandbox):
            missing = {"refresh_token": "GOOGLE_ADS_REFRESH_TOKEN"}
            for key in ("client_id", "client_secret", "developer_token", "customer_id", "user_list_id"):
                if not getattr(options, key):
                    missing[key] = f"GOOGLE_ADS_{key.upper()}"
            raise MissingCredentials("'google_ads' (type google_ads)", missing)
        if self.is_sandbox:
            from connectors.google_ads import sandbox

            local = None if options.base_url else sandbox.local_sandbox()
            options = options.model_copy(update={
                "access_token": local.access_token if local else "sandbox-google-token",
                # the sandbox's own token: a real developer token never goes to a local server
                "developer_token": local.developer_token if local else "sandbox-dev-token",
                "customer_id": options.customer_id or sandbox.SANDBOX_CUSTOMER_ID,
                "user_list_id": options.user_list_id or sandbox.SANDBOX_USER_LIST_ID,
                "base_url": options.base_url or (local.base_url if local else None),
                "poll_interval": 0.05 if options.poll_interval is None else options.poll_interval,
            })
        missing = [k for k in ("customer_id", "user_list_id", "developer_token") if not getattr(options, k)]
        if missing:
            raise ValueError(f"destination type google_ads, options: {', '.join(missing)}: required")
        if options.refresh_token and not options.access_token and not (options.client_id and options.client_secret):
            raise ValueError("destination type google_ads, options: refresh_token needs client_id and client_secret")
        self.options = options
        self.sleep = sleep
        self.poll_interval = 10.0 if options.poll_interval is None else options.poll_interval
        headers = {"developer-token": options.developer_token or ""}
        if options.login_customer_id:
            headers["login-customer-id"] = options.login_customer_id
        self.http = HttpClient(
            base_url=f"{(options.base_url or API_URL).rstrip('/')}/{options.api_version}",
            headers=headers,
            timeout=options.timeout,
            max_attempts=options.max_attempts,
            backoff_initial=options.backoff_initial,
            sleep=sleep,
        )
        self._access_token = options.access_token
        self._can_refresh = bool(options.refresh_token and options.client_id and options.client_secret)
        self.user_list = f"customers/{options.customer_id}/userLists/{options.user_list_id}"
        self.jobs: list[str] = []  # job resource names this instance ran, newest last

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> GoogleAdsCustomerMatch:
        return cls(parse_options(GoogleAdsOptions, options, "destination type google_ads"))

    @property
    def rate_limit_scope(self) -> str:
        """Google's quotas are per account, whichever of its user lists a sync fills."""
        where = "sandbox:" if self.is_sandbox else ""
        return f"google_ads:{where}{self.options.customer_id}"

    @property
    def destination_identity(self) -> str:
        where = "sandbox:" if self.is_sandbox else ""
        return f"google_ads:{where}{self.options.customer_id}:{self.options.user_list_id}"

    @property
    def target_label(self) -> str:
        return "sandbox" if self.is_sandbox else (self.options.base_url or API_URL).split("://", 1)[-1]

    # ----- HTTP

    def _token(self) -> str:
        if self._access_token:
            return self._access_token
        o = self.options
        # its own client: the developer token is for the Ads API, not the OAuth endpoint
        oauth = HttpClient(base_url=o.token_url, timeout=o.timeout, max_attempts=o.max_attempts,
                           backoff_initial=o.backoff_initial, sleep=self.sleep)
        response = oauth.request(
            "POST",
            o.token_url,
            data={"grant_type": "refresh_token", "refresh_token": o.refresh_token,
                  "client_id": o.client_id, "client_secret": o.client_secret},
        )
        if response.status_code >= 400:
            raise AuthError(f"oauth token refresh failed: HTTP {response.status_code}")
        self._access_token = response.json()["access_token"]
        return self._access_token

    def _call(self, path: str, body: dict[str, Any]) -> requests.Response:
        try:
            return self.http.request("POST", path, json=body, headers={"Authorization": f"Bearer {self._token()}"})
        except AuthError:
            if not self._can_refresh:
                raise
            # OAuth access tokens last an hour: refresh once and try again, then give up.
            self._access_token = None
            return self.http.request("POST", path, json=body, headers={"Authorization": f"Bearer {self._token()}"})

    def search(self, query: str) -> list[dict[str, Any]]:
        response = self._call(f"/customers/{self.options.customer_id}/googleAds:search", {"query": query})
        if response.status_code >= 400:
            raise RejectedError(_describe(response))
        return response.json().get("results") or []

    # ----- jobs

    def job_status(self, job: str) -> tuple[str, str | None]:
        rows = self.search(
            "SELECT offline_user_data_job.resource_name, offline_user_data_job.status, "
            "offline_user_data_job.failure_reason FROM offline_user_data_job "
            f"WHERE offline_user_data_job.resource_name = '{job}'"
        )
        if not rows:
            raise RejectedError(f"offline user data job {job} not found")
        found = rows[0]["offlineUserDataJob"]
        return found["status"], found.get("failureReason")

    def active_jobs(self) -> list[str]:
        """PENDING/RUNNING jobs on our user list (another run's, or another tool's)."""
        rows = self.search(
            "SELECT offline_user_data_job.resource_name, offline_user_data_job.status FROM offline_user_data_job "
            "WHERE offline_user_data_job.status IN ('RUNNING') "
            f"AND offline_user_data_job.customer_match_user_list_metadata.user_list = '{self.user_list}'"
        )
        return [r["offlineUserDataJob"]["resourceName"] for r in rows]

    def _wait(self, job: str) -> tuple[str, str | None]:
        deadline = time.monotonic() + self.options.job_wait_seconds
        while True:
            status, reason = self.job_status(job)
            if status in DONE or time.monotonic() >= deadline:
                return status, reason
            self.sleep(self.poll_interval)

    def _wait_until_list_idle(self) -> bool:
        deadline = time.monotonic() + self.options.job_wait_seconds
        while True:
            active = self.active_jobs()
            if not active:
                return True
            if time.monotonic() >= deadline:
                return False
            for job in active:
                self._wait(job)

    def _create_job(self) -> str:
        body = {
            "job": {
                "type": "CUSTOMER_MATCH_USER_LIST",
                "customerMatchUserListMetadata": {
                    "userList": self.user_list,
                    "consent": {
                        "adUserData": self.options.ad_user_data,
                        "adPersonalization": self.options.ad_personalization,
                    },
                },
            }
        }
        response = self._call(f"/customers/{self.options.customer_id}/offlineUserDataJobs:create", body)
        if response.status_code >= 400:
            raise RejectedError(_describe(response))
        return response.json()["resourceName"]

    # ----- records -> operations

    def identifiers(self, record: Record) -> list[dict[str, Any]]:
        return hashing.google_user_identifiers(dict(record.payload), default_country=self.options.default_country)

    def _chunks(self, items: list[tuple[Record, dict[str, Any], int]]) -> list[list[tuple[Record, dict[str, Any], int]]]:
        chunks: list[list[tuple[Record, dict[str, Any], int]]] = [[]]
        count = 0
        for item in items:
            if chunks[-1] and count + item[2] > self.options.max_identifiers_per_request:
                chunks.append([])
                count = 0
            chunks[-1].append(item)
            count += item[2]
        return [c for c in chunks if c]

    def _run_job(self, kind: str, records: list[Record], *, replace: bool = False) -> list[RecordResult]:
        """One job: (removeAll first when ``replace``), operations in chunks, run, poll."""
        results: list[RecordResult] = []
        ready: list[tuple[Record, dict[str, Any], int]] = []
        for record in records:
            ids = self.identifiers(record)
            if not ids:
                results.append(RecordResult(record.key, Outcome.REJECTED, "no usable identifier for Customer Match"))
                continue
            ids = ids[:MAX_IDENTIFIERS_PER_USER]  # Google: at most 20 identifiers per user
            ready.append((record, {kind: {"userIdentifiers": ids}}, len(ids)))
        if not ready:
            return results

        def pending(reason: str) -> list[RecordResult]:
            done = {r.key for r in results}
            return results + [RecordResult(r.key, Outcome.RETRYABLE, reason) for r, _, _ in ready if r.key not in done]

        try:
            if not self._wait_until_list_idle():
                return pending("another offline user data job is still running on this list")
            job = self._create_job()
            if replace:
                # removeAll must come first in the job; the list keeps serving until it runs
                cleared = self._call(f"/{job}:addOperations", {"operations": [{"removeAll": True}]})
                if cleared.status_code >= 400:
                    return pending(_describe(cleared))
            for chunk in self._chunks(ready):
                response = self._call(
                    f"/{job}:addOperations",
                    {"operations": [op for _, op, _ in chunk], "enablePartialFailure": True},
                )
                if response.status_code >= 400:
                    reason = _describe(response)
                    if replace:  # never run a replace that would empty the list and refill it in part
                        return pending(f"replace abandoned: {reason}")
                    results.extend(RecordResult(r.key, Outcome.REJECTED, reason) for r, _, _ in chunk)
                    continue
                failed: dict[int, str] = {}
                for error in google_failure_errors(response.json().get("partialFailureError")):
                    index = operation_index(error)
                    if index is not None:
                        failed.setdefault(index, f"{_error_code(error)}: {str(error.get('message', ''))[:120]}")
                for index, (record, _, _) in enumerate(chunk):
                    if index in failed:
                        results.append(RecordResult(record.key, Outcome.REJECTED, failed[index]))
            settled = {x.key for x in results}
            accepted = [r for r, _, _ in ready if r.key not in settled]
            if not accepted:
                return results
            run = self._call(f"/{job}:run", {})
            if run.status_code >= 400:
                return pending(_describe(run))
            self.jobs.append(job)
            status, reason = self._wait(job)
        except (RetryableError, requests.RequestException) as exc:
            return pending(str(exc)[:200])
        if status == "SUCCESS" or (status not in DONE and self.options.accept_running_jobs):
            if status != "SUCCESS":
                log.info("google ads job %s still %s; taking its operations as accepted", job, status)
            return results + [RecordResult(r.key, Outcome.ACCEPTED, destination_id=job) for r in accepted]
        if status == "FAILED":
            return results + [RecordResult(r.key, Outcome.REJECTED, f"job FAILED: {reason}", job) for r in accepted]
        return pending(f"job {job} still {status}")

    # ----- the Destination protocol

    def write(self, records: list[Record]) -> list[RecordResult]:
        """Removes (REMOVE, and DELETE: erasure means leaving the list) then adds, one job each."""
        creates: list[Record] = []
        removes: list[Record] = []
        results: list[RecordResult] = []
        for r in records:
            if r.operation is Operation.UPSERT:
                creates.append(r)
            elif r.operation in (Operation.REMOVE, Operation.DELETE):
                removes.append(r)
            else:
                results.append(RecordResult(r.key, Outcome.REJECTED, f"google ads does not support {r.operation.value}"))
        if removes:
            results += self._run_job("remove", removes)
        if creates:
            results += self._run_job("create", creates)
        return results

    def replace_all(self, records: list[Record]) -> list[RecordResult]:
        """Fresh full mirror: one job whose first operation is ``removeAll``, then every record.

        Refuses an empty or all-invalid extract (it would empty the list). Google
        applies the job as a whole when it runs, so the list never serves half-built.
        """
        usable = [r for r in records if self.identifiers(r)]
        if not usable:
            raise RejectedError("refusing a full replace with no usable records")
        return self._run_job("create", records, replace=True)

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Customer Match adds/removes are idempotent and there is no send mode, so
        in-doubt records are simply safe to resend (RETRYABLE)."""
        return [RecordResult(r.key, Outcome.RETRYABLE) for r in records]

    def user_list_size(self) -> dict[str, int]:
        """Google's size estimates for the list (``size_for_display``/``size_for_search``)."""
        rows = self.search(
            "SELECT user_list.size_for_display, user_list.size_for_search FROM user_list "
            f"WHERE user_list.resource_name = '{self.user_list}'"
        )
        found = rows[0]["userList"] if rows else {}
        return {k: int(found.get(k, 0)) for k in ("sizeForDisplay", "sizeForSearch")}



class GoogleAdsDestination:
    """What ``type: google_ads`` builds: the Data Manager API, or the legacy path on ``api: google_ads_legacy``."""

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Any:
        from connectors.google_ads.datamanager import GoogleDataManagerAudience

        api = options.get("api", "datamanager")
        if api == "google_ads_legacy":
            return GoogleAdsCustomerMatch.from_options(options)
        if api != "datamanager":
            raise ValueError(f"destination type google_ads, options: api: {api!r}; use datamanager or google_ads_legacy")
        return GoogleDataManagerAudience.from_options(options)


DESTINATION = GoogleAdsDestination
