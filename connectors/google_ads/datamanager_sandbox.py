"""A local stand-in for Google's Data Manager API (REST, v1) Customer Match surface, on 127.0.0.1.

Serves what the Data Manager API reference documents
(developers.google.com/data-manager/api/reference/rest/v1):

- ``POST /v1/audienceMembers:ingest`` and ``POST /v1/audienceMembers:remove`` ->
  ``{"requestId"}``. Bodies are parsed with the official message types of
  ``google-ads-datamanager`` (``IngestAudienceMembersRequest.from_json``), so an
  unknown field, a wrong enum or two fields of one ``oneof`` is a 400 exactly
  where the real API's schema refuses it. Then: at least one destination, each
  with ``operatingAccount`` (``accountType`` GOOGLE_ADS) and a known
  ``productDestinationId``; at most 10,000 members, 10 identifiers each;
  ``encoding`` set and every hashed value a SHA-256 digest in that encoding;
  ``termsOfService.customerMatchTermsOfServiceStatus`` ACCEPTED and consent
  (request- or member-level) ``adUserData`` and ``adPersonalization`` present
  on ingest. A refused member is named in a ``google.rpc.BadRequest`` field
  violation (``audience_members[i]...``), the whole request refused, as the
  real API does. ``validateOnly`` validates and applies nothing.
- ``GET /v1/requestStatus:retrieve?requestId=`` -> ``requestStatusPerDestination``
  (PROCESSING on the first read, then SUCCESS, with record counts).
- ``GET /v1/accountTypes/GOOGLE_ADS/accounts/{account}/userLists/{id}`` -> the
  user list with ``sizeInfo`` (display/search network member counts, a
  deterministic ``match_rate`` share of the members).
- ``POST /token``: the OAuth refresh-token grant google-auth performs.

Auth: ``Authorization: Bearer <token>`` (401 UNAUTHENTICATED); ``deny(reason)``
makes every call a 403 PERMISSION_DENIED with a ``google.rpc.ErrorInfo`` reason,
as Google answers an account not allowed Customer Match.
``state.user_lists[<list id>]`` holds the members (``identifiers("emailAddress")``).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from dataclasses import dataclass, field
from typing import Any

from google.ads import datamanager_v1 as dm

from connectors.google_ads.sandbox import GoogleAdsSandbox, UserList
from connectors.sandbox import Request, Response, SandboxServer

MAX_MEMBERS = 10_000
MAX_IDENTIFIERS = 10
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
SANDBOX_ACCOUNT_ID = "1234567890"
SANDBOX_USER_LIST_ID = "555"


@dataclass
class DataManagerState:
    user_lists: dict[str, UserList] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # requestId -> what it did


class _Refused(Exception):
    def __init__(self, message: str, reason: str, violations: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.violations = violations or []


def _is_digest(value: str, encoding: str) -> bool:
    try:
        raw = bytes.fromhex(value) if encoding == "HEX" else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return False
    return len(raw) == 32 and (encoding != "HEX" or value == value.lower())


class DataManagerSandbox(SandboxServer):
    vendor = "google_datamanager"

    def __init__(self, *, access_token: str = "sandbox-datamanager-token",
                 refresh_token: str = "sandbox-refresh-token", match_rate: float = 1.0) -> None:
        super().__init__()
        self.access_token = access_token
        self.refresh_token = refresh_token
        self.match_rate = match_rate
        self.state = DataManagerState()
        self._ids = itertools.count(1)
        self._denied: tuple[str, str] | None = None
        self.route("POST", "/token", self._token, bucket="oauth")
        self.route("POST", "/v1/audienceMembers:ingest", self._ingest)
        self.route("POST", "/v1/audienceMembers:remove", self._remove)
        self.route("GET", "/v1/requestStatus:retrieve", self._status)
        self.route("GET", "/v1/accountTypes/{account_type}/accounts/{account}/userLists/{list_id}", self._user_list)
        self.user_list(SANDBOX_USER_LIST_ID)

    # ----- vendor hooks

    def error_response(self, status: int, message: str, request: Request | None = None, *,
                       reason: str | None = None, violations: list[tuple[str, str]] | None = None) -> Response:
        body: dict[str, Any] = {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}
        details: list[dict[str, Any]] = []
        if reason:
            details.append({"@type": ERROR_INFO, "reason": reason, "domain": "datamanager.googleapis.com"})
        if violations:
            details.append({"@type": BAD_REQUEST, "fieldViolations": [
                {"field": f, "description": d} for f, d in violations]})
        if details:
            body["details"] = details
        return Response.json({"error": body}, status)

    def authenticate(self, request: Request) -> Response | None:
        if request.path == "/token":
            return None
        if request.header("Authorization") != f"Bearer {self.access_token}":
            return self.error_response(401, "Request had invalid authentication credentials.", request,
                                       reason="ACCESS_TOKEN_TYPE_UNSUPPORTED")
        if self._denied:
            return self.error_response(403, self._denied[1], request, reason=self._denied[0])
        return None

    def deny(self, reason: str = "PERMISSION_DENIED", message: str = "The caller does not have permission") -> None:
        """Every later call answers 403 with this ErrorInfo reason (``None`` clears it via ``allow``)."""
        with self.lock:
            self._denied = (reason, message)

    def allow(self) -> None:
        with self.lock:
            self._denied = None

    def user_list(self, list_id: str) -> UserList:
        with self.lock:
            return self.state.user_lists.setdefault(list_id, UserList(list_id))

    # ----- routes

    def _token(self, request: Request) -> Response:
        form = request.form()
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.refresh_token:
            return Response.json({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        return Response.json({"access_token": self.access_token, "expires_in": 3599, "token_type": "Bearer"})

    def _parse(self, request: Request, message: type) -> Any:
        try:
            return message.from_json(request.body.decode("utf-8") or "{}", ignore_unknown_fields=False)
        except Exception as exc:  # the official type refused the JSON: the real schema would too
            raise _Refused(f"Invalid JSON payload received. {str(exc)[:200]}", "INVALID_ARGUMENT") from None

    def _destinations(self, destinations: Any) -> list[str]:
        if not destinations:
            raise _Refused("At least one destination is required.", "INVALID_ARGUMENT",
                           [("destinations", "Required.")])
        ids = []
        for i, d in enumerate(destinations):
            account = d.operating_account
            if account.account_type != dm.ProductAccount.AccountType.GOOGLE_ADS or not account.account_id:
                raise _Refused("Invalid operating account.", "INVALID_OPERATING_ACCOUNT",
                               [(f"destinations[{i}].operating_account", "Required GOOGLE_ADS account.")])
            if d.product_destination_id not in self.state.user_lists:
                raise _Refused("The audience was not found.", "INVALID_PRODUCT_DESTINATION_ID",
                               [(f"destinations[{i}].product_destination_id", "Audience not found.")])
            ids.append(d.product_destination_id)
        return ids

    def _members(self, parsed: Any, *, ingest: bool) -> list[frozenset[tuple[str, str]]]:
        members = list(parsed.audience_members)
        if not members or len(members) > MAX_MEMBERS:
            raise _Refused(f"Between 1 and {MAX_MEMBERS} audience members per request.", "TOO_MANY_AUDIENCE_MEMBERS")
        encoding = dm.Encoding(parsed.encoding).name
        if encoding not in ("HEX", "BASE64"):
            raise _Refused("encoding is required for UserData uploads.", "INVALID_ENCODING",
                           [("encoding", "Required.")])
        request_consent = parsed.consent if ingest else None
        violations: list[tuple[str, str]] = []
        out = []
        for i, member in enumerate(members):
            ids = list(member.user_data.user_identifiers)
            where = f"audience_members[{i}].user_data.user_identifiers"
            if not ids or len(ids) > MAX_IDENTIFIERS:
                violations.append((where, f"Between 1 and {MAX_IDENTIFIERS} user identifiers."))
                continue
            held: set[tuple[str, str]] = set()
            for j, ident in enumerate(ids):
                kind = dm.UserIdentifier.pb(ident).WhichOneof("identifier")
                if kind in ("email_address", "phone_number"):
                    value = getattr(ident, kind)
                    if not _is_digest(value, encoding) or self.faults.rejection_for(value):
                        violations.append((f"{where}[{j}].{kind}", "Not a SHA-256 digest in the request's encoding."))
                    held.add(("emailAddress" if kind == "email_address" else "phoneNumber", value))
                elif kind == "address":
                    a = ident.address
                    if not (_is_digest(a.given_name, encoding) and _is_digest(a.family_name, encoding)
                            and len(a.region_code) == 2 and a.postal_code):
                        violations.append((f"{where}[{j}].address", "Hashed names, region code and postal code."))
                    held.add(("address", "|".join((a.given_name, a.family_name, a.region_code, a.postal_code))))
                else:
                    violations.append((f"{where}[{j}]", "Exactly one identifier must be set."))
            if ingest:
                consent = member.consent if "consent" in member else request_consent
                if not consent.ad_user_data or not consent.ad_personalization:
                    violations.append((f"audience_members[{i}].consent", "adUserData and adPersonalization."))
            out.append(frozenset(held))
        if violations:
            raise _Refused("Request contains an invalid argument.", "INVALID_ARGUMENT", violations)
        return out

    def _answer(self, kind: str, request: Request, message: type) -> Response:
        try:
            parsed = self._parse(request, message)
            lists = self._destinations(parsed.destinations)
            members = self._members(parsed, ingest=kind == "ingest")
            if kind == "ingest" and parsed.terms_of_service.customer_match_terms_of_service_status != (
                    dm.TermsOfServiceStatus.ACCEPTED):
                raise _Refused("The Customer Match terms of service must be accepted.",
                               "TERMS_OF_SERVICE_NOT_ACCEPTED", [("terms_of_service", "Must be ACCEPTED.")])
        except _Refused as refused:
            return self.error_response(400, str(refused), request, reason=refused.reason,
                                       violations=refused.violations)
        request_id = f"sandbox-{next(self._ids):08d}"
        if not parsed.validate_only:
            for list_id in lists:
                for ids in members:
                    (self.user_list(list_id).add if kind == "ingest" else self.user_list(list_id).remove)(ids)
        self.state.requests[request_id] = {"kind": kind, "lists": lists, "records": len(members),
                                           "identifiers": sum(len(m) for m in members), "reads": 0,
                                           "account": parsed.destinations[0].operating_account.account_id}
        return Response.json({"requestId": request_id})

    def _ingest(self, request: Request) -> Response:
        return self._answer("ingest", request, dm.IngestAudienceMembersRequest)

    def _remove(self, request: Request) -> Response:
        return self._answer("remove", request, dm.RemoveAudienceMembersRequest)

    def _status(self, request: Request) -> Response:
        found = self.state.requests.get(request.arg("requestId") or "")
        if found is None:
            return self.error_response(404, "Request not found.", request, reason="REQUEST_ID_NOT_FOUND")
        found["reads"] += 1
        status = "PROCESSING" if found["reads"] == 1 else "SUCCESS"
        counts = {"recordCount": str(found["records"]), "userIdentifierCount": str(found["identifiers"])}
        key, inner = (("audienceMembersIngestionStatus", "userDataIngestionStatus") if found["kind"] == "ingest"
                      else ("audienceMembersRemovalStatus", "userDataRemovalStatus"))
        return Response.json({"requestStatusPerDestination": [
            {"destination": {"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": found["account"]},
                             "productDestinationId": list_id},
             "requestStatus": status, key: {inner: counts}}
            for list_id in found["lists"]]})

    matched = GoogleAdsSandbox.matched  # the same deterministic "matched" share as the legacy sandbox

    def _user_list(self, request: Request) -> Response:
        found = self.state.user_lists.get(request.params["list_id"])
        if found is None or request.params["account_type"] != "GOOGLE_ADS":
            return self.error_response(404, "User list not found.", request, reason="NOT_FOUND")
        size = str(self.matched(found))
        name = f"accountTypes/GOOGLE_ADS/accounts/{request.params['account']}/userLists/{found.resource_name}"
        return Response.json({"name": name, "id": found.resource_name,
                              "sizeInfo": {"displayNetworkMembersCount": size, "searchNetworkMembersCount": size}})


_LOCAL: DataManagerSandbox | None = None


def local_sandbox() -> DataManagerSandbox:
    """The process-wide sandbox a Google Ads destination uses when no OAuth credentials are set."""
    global _LOCAL
    if _LOCAL is None:
        _LOCAL = DataManagerSandbox(match_rate=0.6).start()
    return _LOCAL


def _standalone() -> tuple[DataManagerSandbox, dict[str, str]]:
    sb = DataManagerSandbox(match_rate=0.6).start()
    return sb, {"GOOGLE_ADS_BASE_URL": sb.base_url}
