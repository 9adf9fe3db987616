"""Customer Match through the Data Manager API, against its loopback sandbox (default ``type: google_ads``)."""

from __future__ import annotations

import pytest

from connectors.base import AuthError, Destination, DestinationStopped, Operation, Outcome, Record
from connectors.google_ads.datamanager import GoogleDataManagerAudience
from connectors.google_ads.datamanager_sandbox import DataManagerSandbox
from connectors.google_ads.destination import GoogleAdsCustomerMatch
from connectors.hashing import sha256_hex
from syncs.registry import build_destination


@pytest.fixture()
def sb():
    with DataManagerSandbox() as sandbox:
        sandbox.user_list("555")
        yield sandbox


def dest(sb: DataManagerSandbox, **options) -> GoogleDataManagerAudience:
    opts = {"customer_id": "1234567890", "user_list_id": "555", "access_token": sb.access_token,
            "base_url": sb.base_url, "backoff_initial": 0.01} | options
    d = build_destination({"type": "google_ads", "options": opts})
    assert isinstance(d, GoogleDataManagerAudience) and isinstance(d, Destination)
    d.http.sleep = lambda s: None
    return d


def person(i: int, op: Operation = Operation.UPSERT, **extra) -> Record:
    return Record(f"p{i}", op, {"email": f"P.{i}+news@GMail.com", "phone": f"+1 650 555 {i:04d}"} | extra)


def test_ingest_sends_consent_terms_encoding_and_documented_hashes(sb: DataManagerSandbox) -> None:
    d = dest(sb)
    results = d.write([person(1, first_name="Mrs. Jane", last_name="O'Brien", country="US", postcode="94043")])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] and results[0].destination_id == d.request_ids[-1]
    [req] = sb.requests_to("POST", r"audienceMembers:ingest$")
    body = req.json()
    assert body["consent"] == {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
    assert body["termsOfService"] == {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
    assert body["encoding"] == "HEX"
    assert body["destinations"] == [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                                     "productDestinationId": "555"}]
    ids = body["audienceMembers"][0]["userData"]["userIdentifiers"]
    assert ids == [  # Google's formatting: Gmail without dots and +tag; names without title/punctuation
        {"emailAddress": sha256_hex("p1@gmail.com")},
        {"phoneNumber": sha256_hex("+16505550001")},
        {"address": {"givenName": sha256_hex("jane"), "familyName": sha256_hex("obrien"), "regionCode": "US",
                     "postalCode": "94043"}},
    ]
    assert b"gmail" not in req.body.lower() and req.headers["authorization"] == "<redacted>"
    assert sb.user_list("555").identifiers("emailAddress") == {sha256_hex("p1@gmail.com")}


def test_remove_then_size_and_request_status_read_back(sb: DataManagerSandbox) -> None:
    d = dest(sb)
    d.write([person(i) for i in range(5)])
    results = d.write([person(1, Operation.REMOVE), person(2, Operation.DELETE)])
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    remove = sb.requests_to("POST", r"audienceMembers:remove$")[0].json()
    assert "consent" not in remove and len(remove["audienceMembers"]) == 2
    assert sb.user_list("555").identifiers("emailAddress") == {sha256_hex(f"p{i}@gmail.com") for i in (0, 3, 4)}
    assert d.user_list_size() == {"sizeForDisplay": 3, "sizeForSearch": 3}
    request_id = results[0].destination_id
    assert d.request_status(request_id)[0]["requestStatus"] == "PROCESSING"
    [status] = d.request_status(request_id)
    assert status["requestStatus"] == "SUCCESS"
    assert status["audienceMembersRemovalStatus"]["userDataRemovalStatus"]["recordCount"] == "2"


def test_several_audiences_in_one_request(sb: DataManagerSandbox) -> None:
    sb.user_list("777")
    d = dest(sb, also_user_list_ids=["777"])
    assert d.write([person(1)])[0].outcome is Outcome.ACCEPTED
    assert len(sb.requests_to("POST", r"audienceMembers:ingest$")) == 1
    assert sb.user_list("555").identifiers("emailAddress") == sb.user_list("777").identifiers("emailAddress") != set()
    assert d.destination_identity == "google_ads:1234567890:555,777" and d.target_label.startswith("127.0.0.1:")


def test_a_refused_member_is_rejected_and_the_others_sent(sb: DataManagerSandbox) -> None:
    sb.faults.reject(sha256_hex("p2@gmail.com"))
    nothing = Record("x", Operation.UPSERT, {"email": "nope", "phone": "12"})
    results = {r.key: r for r in dest(sb).write([person(1), person(2), nothing, person(3)])}
    assert results["x"].outcome is Outcome.REJECTED  # nothing usable: never sent
    assert results["p2"].outcome is Outcome.REJECTED and "INVALID_ARGUMENT" in results["p2"].error
    assert "audience_members[1]" in results["p2"].error
    assert {results[k].outcome for k in ("p1", "p3")} == {Outcome.ACCEPTED}
    assert sb.user_list("555").identifiers("emailAddress") == {sha256_hex(f"p{i}@gmail.com") for i in (1, 3)}


def test_sandbox_refuses_what_the_api_schema_refuses(sb: DataManagerSandbox) -> None:
    d = dest(sb)
    body = d._body("ingest", [d.member(person(1))])
    for broken, reason in [
        (body | {"unknownField": 1}, "INVALID_ARGUMENT"),  # the official types reject unknown fields
        (body | {"termsOfService": {"customerMatchTermsOfServiceStatus": "REJECTED"}}, "TERMS_OF_SERVICE_NOT_ACCEPTED"),
        ({k: v for k, v in body.items() if k != "encoding"}, "INVALID_ENCODING"),
        ({k: v for k, v in body.items() if k != "consent"}, "INVALID_ARGUMENT"),
        (body | {"destinations": [{"operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1"},
                                   "productDestinationId": "999"}]}, "INVALID_PRODUCT_DESTINATION_ID"),
    ]:
        answer = d._call("POST", "/v1/audienceMembers:ingest", json=broken)
        assert answer.status_code == 400 and answer.json()["error"]["details"][0]["reason"] == reason, reason
    assert sb.user_list("555").size() == 0


def test_validate_only_applies_nothing(sb: DataManagerSandbox) -> None:
    assert dest(sb, validate_only=True).write([person(1)])[0].outcome is Outcome.ACCEPTED
    assert sb.requests_to("POST", r":ingest$")[0].json()["validateOnly"] is True
    assert sb.user_list("555").size() == 0


def test_a_403_surfaces_googles_reason_and_message(sb: DataManagerSandbox) -> None:
    sb.deny("CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE", "Customer is not allowlisted for Customer Match.")
    with pytest.raises(DestinationStopped, match="CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE") as stopped:
        dest(sb).write([person(1)])
    assert "HTTP 403" in str(stopped.value) and "not allowlisted for Customer Match" in str(stopped.value)
    sb.deny("USER_PERMISSION_DENIED", "The user has no access to operating account 1234567890.")
    with pytest.raises(AuthError, match="PERMISSION_DENIED/USER_PERMISSION_DENIED: The user has no access"):
        dest(sb).write([person(1)])


def test_refresh_token_through_google_auth(sb: DataManagerSandbox) -> None:
    d = dest(sb, access_token=None, refresh_token=sb.refresh_token, client_id="cid", client_secret="secret",
             token_url=f"{sb.base_url}/token")
    assert d.write([person(1)])[0].outcome is Outcome.ACCEPTED
    token = sb.requests_to("POST", r"^/token$")[0]
    assert "grant_type=refresh_token" in token.body.decode() and "datamanager" in token.body.decode()
    sb.access_token = "rotated"  # the hour is up
    assert d.write([person(2)])[0].outcome is Outcome.ACCEPTED
    assert len(sb.requests_to("POST", r"^/token$")) == 2


def test_legacy_path_only_behind_its_option() -> None:
    legacy = build_destination({"type": "google_ads", "options": {
        "api": "google_ads_legacy", "customer_id": "1", "user_list_id": "2", "developer_token": "d",
        "access_token": "t", "base_url": "http://127.0.0.1:9"}})
    assert isinstance(legacy, GoogleAdsCustomerMatch) and legacy.destination_identity == "google_ads:1:2"
    with pytest.raises(ValueError, match="developer_token"):  # a legacy option is not a Data Manager one
        build_destination({"type": "google_ads", "options": {"customer_id": "1", "user_list_id": "2",
                                                             "access_token": "t", "developer_token": "d"}})
    with pytest.raises(ValueError, match="api"):
        build_destination({"type": "google_ads", "options": {"api": "v0"}})
