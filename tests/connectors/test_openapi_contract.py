"""Contract test: what the SendGrid and Twilio connectors send, and what their sandboxes
answer, against the vendors' official OpenAPI descriptions (tests/fixtures/openapi/).

Each scenario drives the real connector against its loopback sandbox through every
call it makes (upsert with custom fields and lists, import polling, search, list
removal, erasure, send, reconcile, suppression pulls; SMS send, message lookup and
pages, erasure); then every logged request and answer is validated with ``openapi-core``. A
sandbox that drifts from the vendor fails here, and so does a connector that sends
what the vendor would refuse.

Tolerated, each because the description itself is wrong (fixtures/openapi/README.md):
``custom_args`` on /v3/mail/send (typed string, sent as an object by the API's own
SDK) and Twilio's ``uri``/``next_page_uri`` fields (relative paths, typed ``uri``).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from connectors.base import Operation, Record
from connectors.engagement_store import EngagementStore
from connectors.sandbox import LoggedRequest
from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.engagement import pull_suppressions
from connectors.sendgrid.sandbox import DOWNLOAD_PATH, SANDBOX_API_KEY, SendGridSandbox
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.engagement import pull_messages
from connectors.twilio.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SmsRates,
    TwilioSandbox,
)

SPECS = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
SENDGRID_SPECS = (
    "sendgrid_tsg_mc_contacts_v3.json",
    "sendgrid_tsg_mc_lists_v3.json",
    "sendgrid_tsg_mc_custom_fields_v3.json",
    "sendgrid_tsg_mail_v3.json",
    "sendgrid_tsg_email_activity_v3.json",
    "sendgrid_tsg_suppressions_v3.json",
)


def _patch_known_errata(name: str, spec: dict) -> dict:
    """The two documented errors of the descriptions, and nothing else."""
    if name == "sendgrid_tsg_mail_v3.json":
        body = _resolve(spec, spec["paths"]["/v3/mail/send"]["post"]["requestBody"])
        mail = body["content"]["application/json"]
        props = _resolve(spec, mail["schema"])["properties"]
        assert props["custom_args"]["type"] == "string"  # the erratum is still there
        props["custom_args"] = {"type": "object"}
    if name == "sendgrid_tsg_mc_contacts_v3.json":
        # DELETE /v3/marketing/contacts types job_id as an object; the API answers a string
        # (as every other job id, and the description's own example)
        answer = spec["paths"]["/v3/marketing/contacts"]["delete"]["responses"]["202"]
        answer["content"]["application/json"]["schema"]["properties"]["job_id"] = {"type": "string"}
    if name == "twilio_api_v2010.json":
        for schema in spec["components"]["schemas"].values():
            for key in ("uri", "next_page_uri", "previous_page_uri", "first_page_uri"):
                prop = (schema.get("properties") or {}).get(key)
                if isinstance(prop, dict) and prop.get("format") == "uri":
                    prop.pop("format")
    return spec


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node: dict = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


@functools.cache
def _document(name: str) -> dict:
    return _patch_known_errata(name, json.loads((SPECS / name).read_text()))


@functools.cache
def _openapi(name: str) -> OpenAPI:
    # the descriptions are the vendors'; checking the documents themselves is not our job
    return OpenAPI.from_dict(_document(name), config=Config(spec_validator_cls=None))


def _path_matches(template: str, path: str) -> bool:
    regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
    return re.match(regex, path) is not None


def _spec_for(specs: tuple[str, ...], entry: LoggedRequest) -> OpenAPI:
    for name in specs:
        if any(_path_matches(t, entry.path) for t in _document(name)["paths"]):
            return _openapi(name)
    raise AssertionError(f"{entry.method} {entry.path}: no path in the vendor's descriptions")


def _validate(entry: LoggedRequest, api: OpenAPI, host: str, auth: str) -> list[str]:
    content_type = entry.headers.get("content-type", "application/json").split(";")[0]
    headers = dict(entry.headers)
    if headers.get("authorization") == "<redacted>":
        # the log keeps no credential; the sandbox checked it (no 401), so the scheme was right
        headers["authorization"] = f"{auth} redacted"
    request = MockRequest(
        host,
        entry.method,
        entry.path,
        args={k: v for k, v in entry.query.items()},
        headers=headers,
        data=entry.body or None,
        content_type=content_type,
    )
    problems = [f"request: {e}" for e in api.iter_request_errors(request)]
    answer_type = entry.response_headers.get("Content-Type", "application/json").split(";")[0]
    response = MockResponse(
        entry.response_body, status_code=entry.status or 0, headers=entry.response_headers,
        content_type=answer_type,
    )
    for error in api.iter_response_errors(request, response):
        if type(error).__name__ == "ResponseNotFound" and (entry.status or 0) >= 400:
            # Twilio's description documents success answers only: check the error shape
            # its docs give ({"code", "message", "more_info", "status"}) instead
            body = json.loads(entry.response_body or b"{}")
            if not {"code", "message", "more_info", "status"} <= set(body):
                problems.append(f"response {entry.status}: not Twilio's error shape: {sorted(body)}")
            continue
        problems.append(f"response {entry.status}: {_why(error)}")
    return problems


def _why(error: Exception) -> str:
    causes = getattr(error, "schema_errors", None) or []
    cause = error.__cause__
    causes = causes or list(getattr(cause, "schema_errors", []) or [])
    detail = "; ".join(f"{'/'.join(map(str, c.path))}: {c.message}"[:200] for c in causes[:3])
    return f"{type(error).__name__}: {error} {detail}".strip()


def _check(
    log: list[LoggedRequest], specs: tuple[str, ...], host: str, auth: str, skip_prefix: str | None = None
) -> int:
    failures: list[str] = []
    checked = 0
    for entry in log:
        if entry.fault or entry.status is None:
            continue
        if skip_prefix and entry.path.startswith(skip_prefix):
            continue
        api = _spec_for(specs, entry)
        for problem in _validate(entry, api, host, auth):
            failures.append(f"{entry.method} {entry.path}: {problem}")
        checked += 1
    assert not failures, "\n".join(failures)
    return checked


def test_sendgrid_connector_and_sandbox_follow_the_official_descriptions(tmp_path) -> None:
    with SendGridSandbox(job_delay=0.01) as sb:
        dest = SendGridDestination.from_options(
            {
                "api_key": SANDBOX_API_KEY, "host": sb.base_url, "list_name": "aud_contract",
                "from_email": "news@shop.example", "template_id": "d-123", "poll_interval": 0.01,
                "field_types": {"main_interest": "Text"},
            },
            name="sendgrid_contract",
        )
        sb.faults.reject("carol@example.com", "contact refused by policy")
        upserts = [
            Record(f"p{i}", Operation.UPSERT, {"email": f"p{i}@example.com", "first_name": "Ann",
                                                "main_interest": "shoes", "loyalty_points": i})
            for i in range(4)
        ] + [Record("c", Operation.UPSERT, {"email": "carol@example.com"})]
        dest.write(upserts)
        sb.advance()
        dest.write([Record("p0", Operation.REMOVE, {"email": "p0@example.com"}),
                    Record("p1", Operation.DELETE, {"email": "p1@example.com"})])
        sends = [Record(f"s{i}", Operation.SEND, {"email": f"s{i}@example.com", "first_name": "B"},
                        idempotency_key=f"k{i}") for i in range(3)]
        dest.write(sends)
        dest.reconcile(sends)
        sb.suppress("spam_reports", "s0@example.com")
        sb.suppress("bounces", "s1@example.com", "550 no such user")
        sb.suppress("unsubscribes", "s2@example.com")
        pull_suppressions(dest.client, EngagementStore(tmp_path / "wh.duckdb"))
        log = list(sb.request_log)
    called = {(e.method, re.sub(r"/[0-9a-f-]{36}", "/{id}", e.path)) for e in log}
    assert {
        ("PUT", "/v3/marketing/contacts"), ("GET", "/v3/marketing/contacts/imports/{id}"),
        ("POST", "/v3/marketing/contacts/search/emails"), ("DELETE", "/v3/marketing/contacts"),
        ("DELETE", "/v3/marketing/lists/{id}/contacts"), ("POST", "/v3/mail/send"),
        ("GET", "/v3/messages"), ("GET", "/v3/suppression/spam_reports"),
        ("POST", "/v3/marketing/field_definitions"), ("POST", "/v3/marketing/lists"),
    } <= called, called
    checked = _check(log, SENDGRID_SPECS, "https://api.sendgrid.com", "Bearer", skip_prefix=DOWNLOAD_PATH)
    assert checked >= 15


def test_twilio_connector_and_sandbox_follow_the_official_description(tmp_path) -> None:
    with TwilioSandbox() as sb:
        dest = TwilioDestination.from_options({
            "account_sid": SANDBOX_ACCOUNT_SID, "auth_token": SANDBOX_AUTH_TOKEN,
            "base_url": sb.base_url + "/2010-04-01", "from_number": "+15005550006",
            "body": "Hi {first_name}", "status_callback": "https://hooks.example.com/twilio/status",
        })
        records = [Record(f"p{i}", Operation.SEND, {"phone": f"+3361000{i:04d}", "first_name": "A"},
                          idempotency_key=f"k{i}") for i in range(5)]
        records.append(Record("bad", Operation.SEND, {"phone": "+1", "first_name": "A"}, idempotency_key="kb"))
        dest.write(records)
        sb.advance(SmsRates(failed=0.2, stop=0.2), seed=1)
        dest.reconcile(records[:2])
        pull_messages(dest, EngagementStore(tmp_path / "wh.duckdb"), page_size=2)
        sid = next(m["sid"] for m in sb.state.outbound())
        dest.erase_messages([Record("p0", Operation.DELETE, {"_destination_id": sid})])
        log = list(sb.request_log)
    assert {e.method for e in log} == {"GET", "POST", "DELETE"}
    checked = _check(log, ("twilio_api_v2010.json",), "https://api.twilio.com", "Basic")
    assert checked >= 8


def test_the_contract_check_catches_a_drifting_answer() -> None:
    """The check itself can fail: a contact search answer without segment_ids is refused."""
    api = _openapi("sendgrid_tsg_mc_contacts_v3.json")
    entry = LoggedRequest(
        method="POST", path="/v3/marketing/contacts/search/emails", query={},
        headers={"content-type": "application/json", "authorization": "<redacted>"},
        body=b'{"emails": ["a@example.com"]}', started_at=0.0, status=200,
        response_headers={"Content-Type": "application/json"},
        response_body=json.dumps({"result": {"a@example.com": {"contact": {
            "id": "1", "list_ids": [], "created_at": "2021-03-02T15:25:47Z",
            "updated_at": "2021-03-02T15:25:47Z"}}}}).encode(),
    )
    problems = _validate(entry, api, "https://api.sendgrid.com", "Bearer")
    assert problems and any("segment_ids" in p for p in problems), problems
