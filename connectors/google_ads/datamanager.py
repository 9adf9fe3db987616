"""Google Customer Match through the Data Manager API: ``audienceMembers:ingest`` / ``:remove``.

Google directs Customer Match uploads here (developers.google.com/data-manager/api):
no job to create, run and poll, no developer token, several audiences per request.
Contract followed (REST reference v1):

- ``POST https://datamanager.googleapis.com/v1/audienceMembers:ingest`` with
  ``destinations`` (``operatingAccount`` {GOOGLE_ADS, customer id}, optional
  ``loginAccount`` for a manager, ``productDestinationId`` = the user list id),
  ``audienceMembers`` (at most 10,000; each ``userData.userIdentifiers``, at most
  10, exactly one of ``emailAddress``/``phoneNumber``/``address``), request-level
  ``consent`` (``adUserData``/``adPersonalization`` CONSENT_GRANTED: only people
  whose ads consent the engine checked reach here), ``encoding: HEX``,
  ``termsOfService.customerMatchTermsOfServiceStatus: ACCEPTED``, ``validateOnly``.
  The answer is ``{"requestId"}``; ``:remove`` takes the same shape without consent.
- ``GET /v1/requestStatus:retrieve?requestId=``: processing is asynchronous;
  :meth:`request_status` reads it (PROCESSING, SUCCESS, PARTIAL_SUCCESS, FAILED).
- ``GET /v1/accountTypes/GOOGLE_ADS/accounts/{id}/userLists/{id}``: ``sizeInfo``
  (display/search network member counts), read by :meth:`user_list_size`.

Why REST through :mod:`connectors.http` and not the official client's calls: the
official ``google-ads-datamanager`` client has its own retry layer (Ferry keeps
retries in one place) and raises its own exception types that drop the error body
Ferry surfaces. So the official package serves for its *types*: every request body
is built from its messages (``IngestAudienceMembersRequest`` ...) and serialised
by them, so field names and enum values are the API's own; the sandbox parses
them back with the same types. Identifiers are formatted by Google's
``google-ads-datamanager-util`` (:mod:`connectors.hashing`). OAuth is google-auth's
(scope ``https://www.googleapis.com/auth/datamanager``): a service-account key
file, or a user refresh token with client id/secret, or a given access token.

A refused request (400) names refused members in ``google.rpc.BadRequest`` field
violations (``audience_members[i]...``): those records are rejected with the
reason and the rest are sent again once. A 401/403 raises through the HTTP layer
with Google's reason and message (:mod:`connectors.vendor_errors`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import requests
from google.ads import datamanager_v1 as dm
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
    RetryableError,
    fingerprint,
    parse_options,
    sandbox_chosen,
)
from connectors.http import HttpClient
from connectors.vendor_errors import parse_vendor_error

API_URL = "https://datamanager.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/datamanager"
MAX_MEMBERS = 10_000
MAX_IDENTIFIERS = 10
IDENTIFIERS = frozenset({"email", "phone", "first_name", "last_name", "country", "postcode"})
_MEMBER_INDEX = re.compile(r"audience_?[mM]embers\[(\d+)\]")


class DataManagerOptions(BaseModel):
    """Options of a ``type: google_ads`` destination (``api: datamanager``, the default)."""

    model_config = ConfigDict(extra="forbid")

    api: Literal["datamanager"] = "datamanager"
    sandbox: bool | None = None  # true: the local sandbox; default: FERRY_SANDBOX
    customer_id: str | None = Field(None, pattern=r"^\d+$")  # the operating account
    user_list_id: str | None = Field(None, pattern=r"^\d+$")  # productDestinationId
    also_user_list_ids: list[str] = Field(default_factory=list)  # more audiences, same members, same request
    login_customer_id: str | None = Field(None, pattern=r"^\d+$")  # a manager account acting for customer_id
    access_token: str | None = None
    refresh_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    service_account_file: str | None = None
    token_url: str = TOKEN_URL
    base_url: str | None = None
    ad_user_data: Literal["CONSENT_GRANTED"] = "CONSENT_GRANTED"  # the engine's consent policy ran before
    ad_personalization: Literal["CONSENT_GRANTED"] = "CONSENT_GRANTED"
    terms_of_service_accepted: bool = True  # the account accepted the Customer Match terms
    validate_only: bool = False
    default_country: str | None = None
    max_members_per_request: int = Field(MAX_MEMBERS, ge=1, le=MAX_MEMBERS)
    # Requests in flight at once: the API sets no per-list limit, only the project's
    # 300 requests a minute (max_requests_per_second), which every sync to it shares.
    max_concurrency: int = Field(4, ge=1, le=16)
    max_requests_per_second: float = Field(5.0, gt=0, le=5.0)
    timeout: float = 60.0
    max_attempts: int = 6
    backoff_initial: float = 0.5


def _credentials(o: DataManagerOptions) -> Any:
    """google-auth credentials for the Data Manager scope, or None for a fixed access token."""
    if o.service_account_file:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_file(o.service_account_file, scopes=[SCOPE])
    if o.refresh_token:
        from google.oauth2.credentials import Credentials

        return Credentials(None, refresh_token=o.refresh_token, client_id=o.client_id,
                           client_secret=o.client_secret, token_uri=o.token_url, scopes=[SCOPE])
    return None


class GoogleDataManagerAudience:
    """A :class:`connectors.base.Destination` for one Customer Match list (plus ``also_user_list_ids``)."""

    name = "google_ads"
    capabilities = Capabilities(
        modes=frozenset({"upsert", "mirror", "insert", "delete"}),
        identifiers=IDENTIFIERS,
        max_batch_records=MAX_MEMBERS,
        max_batch_bytes=None,
        max_requests_per_second=5.0,
        max_concurrency=4,
        min_audience_size=None,
        hashes_identifiers=True,
    )

    def __init__(self, options: DataManagerOptions, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.is_sandbox = bool(options.sandbox) or not (
            options.access_token or options.refresh_token or options.service_account_file
        )
        if self.is_sandbox and not sandbox_chosen(options.sandbox):
            missing = {"refresh_token": "GOOGLE_ADS_REFRESH_TOKEN"}  # or service_account_file
            for key in ("client_id", "client_secret", "customer_id", "user_list_id"):
                if not getattr(options, key):
                    missing[key] = f"GOOGLE_ADS_{key.upper()}"
            raise MissingCredentials("'google_ads' (type google_ads)", missing)
        if self.is_sandbox:
            from connectors.google_ads import datamanager_sandbox as sandbox

            local = None if options.base_url else sandbox.local_sandbox()
            options = options.model_copy(update={
                "access_token": local.access_token if local else "sandbox-datamanager-token",
                "customer_id": options.customer_id or sandbox.SANDBOX_ACCOUNT_ID,
                "user_list_id": options.user_list_id or sandbox.SANDBOX_USER_LIST_ID,
                "base_url": options.base_url or (local.base_url if local else None),
            })
        missing = [k for k in ("customer_id", "user_list_id") if not getattr(options, k)]
        if missing:
            raise ValueError(f"destination type google_ads, options: {', '.join(missing)}: required")
        if options.refresh_token and not (options.client_id and options.client_secret):
            raise ValueError("destination type google_ads, options: refresh_token needs client_id and client_secret")
        self.options = options
        self.sleep = sleep
        self.base_url = (options.base_url or API_URL).rstrip("/")
        self.http = HttpClient(base_url=self.base_url, timeout=options.timeout, max_attempts=options.max_attempts,
                               backoff_initial=options.backoff_initial, sleep=sleep)
        self._credentials = _credentials(options)
        self.user_list_ids = [options.user_list_id, *options.also_user_list_ids]
        self.user_list = f"accountTypes/GOOGLE_ADS/accounts/{options.customer_id}/userLists/{options.user_list_id}"
        self.request_ids: list[str] = []  # requestIds this instance received, newest last
        self._token_lock = threading.Lock()  # concurrent requests refresh the token once
        # One engine batch is one request (the engine keeps several in flight).
        self.capabilities = replace(
            type(self).capabilities,
            max_batch_records=options.max_members_per_request,
            max_concurrency=options.max_concurrency,
            max_requests_per_second=options.max_requests_per_second,
        )

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> GoogleDataManagerAudience:
        return cls(parse_options(DataManagerOptions, options, "destination type google_ads"))

    @property
    def rate_limit_scope(self) -> str:
        """The Data Manager API's quota is per Google Cloud project: the OAuth client (or
        service account, or token) every request is made with, whatever account or list."""
        o = self.options
        where = "sandbox:" if self.is_sandbox else ""
        client = o.client_id or o.service_account_file or o.access_token or ""
        return f"google_datamanager:{where}client={fingerprint(client)}"

    @property
    def destination_identity(self) -> str:
        """State binds to this: another account or list starts fresh; the sandbox is its own target."""
        where = "sandbox:" if self.is_sandbox else ""
        return f"google_ads:{where}{self.options.customer_id}:{','.join(self.user_list_ids)}"

    @property
    def target_label(self) -> str:
        return "sandbox" if self.is_sandbox else re.sub(r"^https?://", "", self.base_url)

    # ----- HTTP

    def _token(self, *, fresh: bool = False) -> str:
        if self._credentials is None:
            return self.options.access_token or ""
        with self._token_lock:
            if fresh or not self._credentials.valid:
                import google.auth.exceptions
                import google.auth.transport.requests

                try:
                    self._credentials.refresh(google.auth.transport.requests.Request())
                except google.auth.exceptions.RefreshError as exc:
                    raise AuthError(f"google oauth token refresh failed: {str(exc)[:120]}") from None
            return self._credentials.token

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, path, headers={"Authorization": f"Bearer {self._token()}"}, **kwargs)
        except AuthError:
            if self._credentials is None:
                raise
            # access tokens last an hour: refresh once and try again, then give up
            return self.http.request(method, path, headers={"Authorization": f"Bearer {self._token(fresh=True)}"},
                                     **kwargs)

    # ----- requests built from the official types

    def _destinations(self) -> list[dm.Destination]:
        o = self.options
        login = (dm.ProductAccount(account_type="GOOGLE_ADS", account_id=o.login_customer_id)
                 if o.login_customer_id else None)
        return [dm.Destination(operating_account=dm.ProductAccount(account_type="GOOGLE_ADS", account_id=o.customer_id),
                               login_account=login, product_destination_id=list_id)
                for list_id in self.user_list_ids]

    def member(self, record: Record) -> dm.AudienceMember | None:
        """The record's identifiers as Data Manager ``UserIdentifier``s (None: nothing usable)."""
        ids = []
        for kind, value in hashing.google_identifiers(dict(record.payload), self.options.default_country):
            if kind == "email":
                ids.append(dm.UserIdentifier(email_address=value))
            elif kind == "phone":
                ids.append(dm.UserIdentifier(phone_number=value))
            elif kind == "address":
                ids.append(dm.UserIdentifier(address=dm.AddressInfo(**value)))
        return dm.AudienceMember(user_data=dm.UserData(user_identifiers=ids[:MAX_IDENTIFIERS])) if ids else None

    def _body(self, kind: str, members: list[dm.AudienceMember]) -> dict[str, Any]:
        o = self.options
        common = {"destinations": self._destinations(), "audience_members": members,
                  "encoding": dm.Encoding.HEX, "validate_only": o.validate_only}
        if kind == "ingest":
            message = dm.IngestAudienceMembersRequest(
                **common,
                consent=dm.Consent(ad_user_data=o.ad_user_data, ad_personalization=o.ad_personalization),
                terms_of_service=dm.TermsOfService(customer_match_terms_of_service_status=(
                    "ACCEPTED" if o.terms_of_service_accepted else "REJECTED")),
            )
        else:
            message = dm.RemoveAudienceMembersRequest(**common)
        import json

        return json.loads(type(message).to_json(message, use_integers_for_enums=False, indent=None,
                                                always_print_fields_with_no_presence=False))

    def _send(self, kind: str, chunk: list[tuple[Record, dm.AudienceMember]]) -> list[RecordResult]:
        """One request; members a 400 names are rejected and the rest sent again once."""
        results: list[RecordResult] = []
        for attempt in range(2):
            response = self._call("POST", f"/v1/audienceMembers:{kind}",
                                  json=self._body(kind, [m for _, m in chunk]))
            if response.status_code < 400:
                request_id = response.json().get("requestId")
                self.request_ids.append(request_id)
                return results + [RecordResult(r.key, Outcome.ACCEPTED, destination_id=request_id) for r, _ in chunk]
            error = parse_vendor_error(response.status_code, response.content).describe()
            named = self._refused_members(response)
            if not named or attempt == 1:
                return results + [RecordResult(r.key, Outcome.REJECTED, error) for r, _ in chunk]
            results += [RecordResult(chunk[i][0].key, Outcome.REJECTED, f"{error} ({field})")
                        for i, field in sorted(named.items())]
            chunk = [item for i, item in enumerate(chunk) if i not in named]
            if not chunk:
                return results
        return results

    @staticmethod
    def _refused_members(response: requests.Response) -> dict[int, str]:
        try:
            details = (response.json().get("error") or {}).get("details") or []
        except ValueError:
            return {}
        named: dict[int, str] = {}
        for detail in details:
            for violation in detail.get("fieldViolations") or []:
                m = _MEMBER_INDEX.search(str(violation.get("field", "")))
                if m:
                    named.setdefault(int(m.group(1)), str(violation.get("field")))
        return named

    # ----- the Destination protocol

    def _run(self, kind: str, records: list[Record]) -> list[RecordResult]:
        results: list[RecordResult] = []
        ready: list[tuple[Record, dm.AudienceMember]] = []
        for record in records:
            member = self.member(record)
            if member is None:
                results.append(RecordResult(record.key, Outcome.REJECTED, "no usable identifier for Customer Match"))
            else:
                ready.append((record, member))
        size = self.options.max_members_per_request
        for start in range(0, len(ready), size):
            chunk = ready[start:start + size]
            try:
                results += self._send(kind, chunk)
            except (RetryableError, requests.RequestException) as exc:
                results += [RecordResult(r.key, Outcome.RETRYABLE, str(exc)[:200]) for r, _ in chunk]
        return results

    def write(self, records: list[Record]) -> list[RecordResult]:
        """Removes (REMOVE, and DELETE: erasure means leaving the list) then adds, a request each."""
        removes = [r for r in records if r.operation in (Operation.REMOVE, Operation.DELETE)]
        creates = [r for r in records if r.operation is Operation.UPSERT]
        other = [RecordResult(r.key, Outcome.REJECTED, f"google ads does not support {r.operation.value}")
                 for r in records if r not in removes and r not in creates]
        return other + (self._run("remove", removes) if removes else []) + (
            self._run("ingest", creates) if creates else [])

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Ingest and remove are idempotent and there is no send mode: resend (RETRYABLE)."""
        return [RecordResult(r.key, Outcome.RETRYABLE) for r in records]

    def request_status(self, request_id: str) -> list[dict[str, Any]]:
        """``requestStatusPerDestination`` of one request (processing is asynchronous)."""
        response = self._call("GET", "/v1/requestStatus:retrieve", params={"requestId": request_id})
        if response.status_code >= 400:
            raise RetryableError(parse_vendor_error(response.status_code, response.content).describe())
        return response.json().get("requestStatusPerDestination") or []

    def user_list_size(self) -> dict[str, int]:
        """Google's size estimates (``sizeInfo``) in the keys the legacy path used."""
        response = self._call("GET", f"/v1/{self.user_list}")
        if response.status_code >= 400:
            raise RetryableError(parse_vendor_error(response.status_code, response.content).describe())
        size = response.json().get("sizeInfo") or {}
        return {"sizeForDisplay": int(size.get("displayNetworkMembersCount", 0)),
                "sizeForSearch": int(size.get("searchNetworkMembersCount", 0))}
