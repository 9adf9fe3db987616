"""SendGrid destination against its loopback sandbox: upsert, remove, delete, send, limits, 429s."""

from __future__ import annotations

import time

import pytest

from connectors.base import Destination, Operation, Outcome, Record
from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.sandbox import (
    MAX_IDS_PER_DELETE,
    MAX_SEARCH_EMAILS,
    MAX_UPSERT_BYTES,
    MAX_UPSERT_CONTACTS,
    SANDBOX_API_KEY,
    SendGridSandbox,
)


@pytest.fixture()
def sandbox():
    with SendGridSandbox(job_delay=0.05) as sb:
        yield sb


def _dest(sb: SendGridSandbox, **extra) -> SendGridDestination:
    options = {
        "api_key": SANDBOX_API_KEY,
        "host": sb.base_url,
        "list_name": "aud_win_back",
        "from_email": "news@shop.example",
        "template_id": "d-123",
        "poll_interval": 0.02,
        "field_types": {"main_interest": "Text"},
        **extra,
    }
    return SendGridDestination.from_options(options, name="sendgrid_marketing")


def _up(key: str, email: str, **fields) -> Record:
    return Record(key=key, operation=Operation.UPSERT, payload={"email": email, **fields})


def test_contract_and_capabilities(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    assert isinstance(dest, Destination)
    caps = dest.capabilities
    assert {"upsert", "mirror", "send", "delete"} <= caps.modes and caps.identifiers == {"email"}
    assert (
        caps.max_batch_records == MAX_UPSERT_CONTACTS and caps.max_batch_bytes == MAX_UPSERT_BYTES
    )
    with pytest.raises(ValueError, match="sendgrid_marketing"):
        SendGridDestination.from_options({"nope": 1}, name="sendgrid_marketing")


def test_upsert_creates_list_fields_and_contacts(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    records = [
        _up("p1", "Ann@Example.com", first_name="Ann", main_interest="shoes", loyalty_points=120),
        _up("p2", "bob@example.com", first_name="Bob", main_interest=None, loyalty_points=5),
    ]
    results = dest.write(records)
    assert [(r.key, r.outcome) for r in results] == [
        ("p1", Outcome.ACCEPTED),
        ("p2", Outcome.ACCEPTED),
    ]
    sandbox.advance()
    [list_id] = sandbox.state.lists
    assert sandbox.state.list_emails(list_id) == {"ann@example.com", "bob@example.com"}
    names = {f["name"]: f for f in sandbox.state.custom_fields.values()}
    assert (
        names["loyalty_points"]["field_type"] == "Number"
        and names["main_interest"]["field_type"] == "Text"
    )
    ann = sandbox.state.contact_by_email("ann@example.com")
    assert ann["first_name"] == "Ann"
    assert ann["custom_fields"] == {
        names["main_interest"]["id"]: "shoes",
        names["loyalty_points"]["id"]: 120,
    }
    # a field left out (the engine leaves out a null unless on_null: clear) is not blanked;
    # an update is an update, not a second contact
    dest.write([_up("p1", "ann@example.com", loyalty_points=130)])
    sandbox.advance()
    ann = sandbox.state.contact_by_email("ann@example.com")
    assert ann["custom_fields"][names["main_interest"]["id"]] == "shoes"
    assert ann["custom_fields"][names["loyalty_points"]["id"]] == 130
    assert len(sandbox.state.contacts) == 2
    # fields and list are looked up once per destination, then reused
    assert len(sandbox.requests_to("POST", "/v3/marketing/lists$")) == 1
    assert len(sandbox.requests_to("POST", "/field_definitions")) == 2
    # every import job was polled to completion before results were returned
    assert all(job.status == "completed" for job in sandbox.state.jobs.values())


def test_per_contact_errors_are_mapped_back(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    sandbox.faults.reject("carol@example.com", "contact refused by policy")
    results = dest.write(
        [
            _up("p1", "ann@example.com"),
            _up("p2", "not-an-email"),  # synchronous 400 naming contacts[1].email
            _up("p3", "carol@example.com"),  # async: the job's errors file
            Record("p4", Operation.UPSERT, {"first_name": "NoId"}),
        ]
    )
    by_key = {r.key: r for r in results}
    assert by_key["p1"].outcome is Outcome.ACCEPTED
    assert by_key["p2"].outcome is Outcome.REJECTED and "contacts[1].email" in by_key["p2"].error
    assert (
        by_key["p3"].outcome is Outcome.REJECTED
        and by_key["p3"].error == "contact refused by policy"
    )
    assert by_key["p4"].outcome is Outcome.REJECTED
    sandbox.advance()
    assert sandbox.state.list_emails(next(iter(sandbox.state.lists))) == {"ann@example.com"}
    assert all("@" not in (r.error or "") for r in results)  # no raw addresses in results


def _failed_import(sandbox: SendGridSandbox) -> dict[str, object]:
    dest = _dest(sandbox, max_attempts=2)
    sandbox.faults.reject("carol@example.com", "contact refused by policy")
    results = dest.write([_up("p1", "ann@example.com"), _up("p3", "carol@example.com")])
    return {r.key: r for r in results}


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("expired link (403)", "HTTP 403"),
        ("layout changed", "unrecognised layout"),
        ("download fails (500)", "gave up"),
    ],
)
def test_an_unreadable_errors_file_never_hides_errors(
    sandbox: SendGridSandbox, breakage: str, reason: str
) -> None:
    """A job that reports errors whose file cannot be read: nobody ACCEPTED, nothing raised."""
    if breakage.startswith("expired"):
        sandbox.errors_file_ttl = -1
    elif breakage.startswith("layout"):
        sandbox.errors_file_columns = ("contact", "reason")
    else:
        sandbox.faults.fail_next(2, 500, path="^/downloads/")
    by_key = _failed_import(sandbox)
    for key in ("p1", "p3"):
        assert by_key[key].outcome is Outcome.RETRYABLE, breakage
        assert "errors file is unreadable" in by_key[key].error and reason in by_key[key].error
        assert "signature=" not in by_key[key].error  # the pre-signed link is not echoed
    [download] = sandbox.requests_to("GET", "^/downloads/")[:1]
    assert "authorization" not in download.headers  # the API key never goes to a download link


def test_the_errors_file_is_a_download_not_a_v3_endpoint(sandbox: SendGridSandbox) -> None:
    by_key = _failed_import(sandbox)
    assert by_key["p1"].outcome is Outcome.ACCEPTED
    assert by_key["p3"].outcome is Outcome.REJECTED
    assert not sandbox.requests_to(None, "^/v3/marketing/contacts/imports/errors")
    assert len(sandbox.requests_to("GET", "^/downloads/contact-import-errors/")) == 1


def test_upsert_batches_stay_within_the_6mb_limit(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    blob = "x" * 40_000
    records = [_up(f"p{i}", f"user{i}@example.com", bio=blob) for i in range(200)]  # ~8 MB in total
    results = dest.write(records)
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    puts = sandbox.requests_to("PUT", "/v3/marketing/contacts$")
    assert len(puts) == 2
    assert all(
        p.body_bytes <= MAX_UPSERT_BYTES and len(p.json()["contacts"]) <= MAX_UPSERT_CONTACTS
        for p in puts
    )
    assert all(r.status != 413 for r in sandbox.request_log)
    sandbox.advance()
    assert len(sandbox.state.contacts) == 200


def test_429_waits_for_the_reset_then_succeeds(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    dest.write([_up("p0", "warm@example.com")])  # list and fields exist now
    sandbox.set_rate_limit(2.0, burst=1, bucket="contacts")
    started = time.monotonic()
    results = dest.write([_up("p1", "a@example.com")]) + dest.write([_up("p2", "b@example.com")])
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    limited = [r for r in sandbox.request_log if r.status == 429]
    assert limited, "the second PUT must have hit the limit"
    assert time.monotonic() - started >= 0.3  # waited for X-RateLimit-Reset instead of hammering
    # the retry came after the advertised reset, and each PUT landed exactly once
    puts = sandbox.requests_to("PUT", "/v3/marketing/contacts$")
    assert [p.status for p in puts].count(202) == 3


def test_remove_from_list_and_delete_contacts(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    emails = [f"u{i}@example.com" for i in range(130)]
    dest.write([_up(f"p{i}", e) for i, e in enumerate(emails)])
    sandbox.advance()
    list_id = next(iter(sandbox.state.lists))
    leaving = [Record(f"p{i}", Operation.REMOVE, {"email": emails[i]}) for i in range(120)]
    leaving.append(Record("ghost", Operation.REMOVE, {"email": "ghost@example.com"}))
    results = dest.write(leaving)
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    sandbox.advance()
    assert sandbox.state.list_emails(list_id) == set(emails[120:])
    assert len(sandbox.state.contacts) == 130  # removed from the list, not deleted
    for req in sandbox.requests_to("POST", "search/emails"):
        assert len(req.json()["emails"]) <= MAX_SEARCH_EMAILS
    for req in sandbox.requests_to("DELETE", "/contacts$"):
        assert len(req.query["contact_ids"][0].split(",")) <= MAX_IDS_PER_DELETE

    erased = dest.write([Record("p125", Operation.DELETE, {"email": emails[125]})])
    assert erased[0].outcome is Outcome.ACCEPTED and erased[0].destination_id
    sandbox.advance()
    assert (
        sandbox.state.contact_by_email(emails[125]) is None and len(sandbox.state.contacts) == 129
    )
    assert not sandbox.state.delete_all_requested
    assert all("delete_all_contacts" not in r.query for r in sandbox.request_log)


def test_send_carries_idempotency_key_and_attribution(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox, custom_args={"campaign": "win_back"})
    record = Record(
        "p1",
        Operation.SEND,
        {
            "email": "ann@example.com",
            "first_name": "Ann",
            "ferry_sync_id": "s1",
            "ferry_variant": "treatment",
        },
        idempotency_key="s1:p1:2026-01-01",
    )
    [result] = dest.write([record])
    assert result.outcome is Outcome.ACCEPTED and result.destination_id
    [message] = sandbox.state.messages
    assert message["to_email"] == "ann@example.com" and message["template_id"] == "d-123"
    assert message["custom_args"] == {
        "campaign": "win_back",
        "ferry_key": "p1",
        "ferry_idempotency_key": "s1:p1:2026-01-01",
        "ferry_sync_id": "s1",
        "ferry_variant": "treatment",
    }
    [req] = sandbox.requests_to("POST", "/v3/mail/send")
    assert req.json()["personalizations"][0]["dynamic_template_data"] == {
        "email": "ann@example.com",
        "first_name": "Ann",
    }
    # a rejected recipient is a per-record rejection, not a failed batch
    sandbox.faults.reject("bad@example.com", "recipient refused")
    results = dest.write(
        [
            Record("p2", Operation.SEND, {"email": "bad@example.com"}, idempotency_key="k2"),
            Record("p3", Operation.SEND, {"email": "ok@example.com"}, idempotency_key="k3"),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.ACCEPTED]


def test_lost_send_is_in_doubt_then_reconciled_never_resent(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    records = [
        Record("p1", Operation.SEND, {"email": "ann@example.com"}, idempotency_key="k1"),
        Record("p2", Operation.SEND, {"email": "bob@example.com"}, idempotency_key="k2"),
    ]
    sandbox.faults.drop_next(1, path="/v3/mail/send")  # SendGrid took it, the answer was lost
    results = dest.write(records[:1])
    sandbox.faults.fail_next(1, 500, path="/v3/mail/send")  # SendGrid failed before taking it
    results += dest.write(records[1:])
    assert [r.outcome for r in results] == [Outcome.IN_DOUBT, Outcome.IN_DOUBT]
    assert len(sandbox.requests_to("POST", "/v3/mail/send")) == 2  # no blind retry of a send
    settled = {r.key: r for r in dest.reconcile(records)}
    assert settled["p1"].outcome is Outcome.ACCEPTED  # found by its idempotency key
    assert settled["p2"].outcome is Outcome.RETRYABLE  # proven absent: safe to send
    assert [m["to_email"] for m in sandbox.state.messages] == ["ann@example.com"]
    # against the real API, absence is not proof (activity lags): stay in doubt
    strict = _dest(sandbox, reconcile_absent_is_proof=False)
    assert strict.reconcile([records[1]])[0].outcome is Outcome.IN_DOUBT


def test_sends_are_paced_by_rate_limit_headers(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    sandbox.set_rate_limit(2.0, burst=2, bucket="mail")
    records = [
        Record(f"p{i}", Operation.SEND, {"email": f"u{i}@example.com"}, idempotency_key=f"k{i}")
        for i in range(5)
    ]
    started = time.monotonic()
    results = dest.write(records)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    # no send ever hit the limit: each wait for X-RateLimit-Reset happened before asking
    assert all(r.status == 202 for r in sandbox.requests_to("POST", "/v3/mail/send"))
    assert time.monotonic() - started >= 1.0
    assert len(sandbox.state.messages) == 5


def test_send_429_is_retryable_not_in_doubt(sandbox: SendGridSandbox) -> None:
    sends = [
        Record(f"p{i}", Operation.SEND, {"email": f"u{i}@example.com"}, idempotency_key=f"k{i}")
        for i in range(2)
    ]
    dest = _dest(sandbox)
    sandbox.faults.fail_next(1, 429, path="/v3/mail/send")  # refused before taking the message
    # A 429 proves nothing was sent: tried again after the pacer's wait, in the same write.
    assert [r.outcome for r in dest.write(sends)] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert [r.status for r in sandbox.requests_to("POST", "/v3/mail/send")] == [429, 202, 202]
    # Refused on every try (three): RETRYABLE (a later run sends it), never in doubt.
    sandbox.faults.fail_next(3, 429, path="/v3/mail/send")
    retry = Record("p9", Operation.SEND, {"email": "u9@example.com"}, idempotency_key="k9")
    assert dest.write([retry])[0].outcome is Outcome.RETRYABLE
    assert len(sandbox.requests_to("POST", "/v3/mail/send")) == 6
    assert [m["to_email"] for m in sandbox.state.messages] == ["u0@example.com", "u1@example.com"]


def test_transient_failures_on_upsert(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    dest.http.sleep = lambda s: None  # backoff itself is tested in the HTTP layer
    sandbox.faults.fail_next(2, 503, method="PUT", path="/v3/marketing/contacts$")
    [ok] = dest.write([_up("p1", "ann@example.com")])
    assert ok.outcome is Outcome.ACCEPTED
    assert [r.status for r in sandbox.requests_to("PUT", "/v3/marketing/contacts$")] == [
        503,
        503,
        202,
    ]
    # a connection dropped after SendGrid took the upsert: replayed (upserts are idempotent),
    # by the HTTP layer when requests reports a connection error, else by the engine (RETRYABLE)
    sandbox.faults.drop_next(1, method="PUT", path="/v3/marketing/contacts$")
    [dropped] = dest.write([_up("p2", "bob@example.com")])
    assert dropped.outcome in (Outcome.ACCEPTED, Outcome.RETRYABLE)
    if dropped.outcome is Outcome.RETRYABLE:
        assert dest.write([_up("p2", "bob@example.com")])[0].outcome is Outcome.ACCEPTED
    assert [r.fault for r in sandbox.requests_to("PUT", "/v3/marketing/contacts$")][3] == "drop"
    sandbox.advance()
    assert len(sandbox.state.contacts) == 2  # the replayed upsert did not duplicate the contact


def test_no_credentials_means_the_local_sandbox(monkeypatch) -> None:
    from connectors.sendgrid.sandbox import local_sandbox

    monkeypatch.delenv("SENDGRID_API_KEY", raising=False)
    dest = SendGridDestination.from_options({"list_name": "local"})
    assert dest.is_sandbox and dest.host == local_sandbox().base_url
    assert dest.write([_up("p1", "ann@example.com")])[0].outcome is Outcome.ACCEPTED


def test_replayed_creates_find_what_the_first_try_made(sandbox: SendGridSandbox) -> None:
    dest = _dest(sandbox)
    dest.http.sleep = lambda s: None
    # both creates succeed at SendGrid but their answers are lost: the layer replays them
    sandbox.faults.drop_next(1, path="/v3/marketing/lists$", method="POST")
    sandbox.faults.drop_next(1, path="/field_definitions$", method="POST")
    results = dest.write([_up("p1", "ann@example.com", main_interest="ski")])
    assert results[0].outcome is Outcome.ACCEPTED
    # the replays were refused as duplicates, and the first tries' objects were found
    assert [r.status for r in sandbox.requests_to("POST", "/v3/marketing/lists$")] == [201, 400]
    assert [r.status for r in sandbox.requests_to("POST", "/field_definitions$")] == [200, 400]
    assert len(sandbox.state.lists) == 1 and len(sandbox.state.custom_fields) == 1
    sandbox.advance()
    assert sandbox.state.list_emails(next(iter(sandbox.state.lists))) == {"ann@example.com"}


def test_option_errors_name_the_key_never_the_value() -> None:
    with pytest.raises(ValueError) as caught:
        SendGridDestination.from_options({"apikey": "SG.very-secret"}, name="sendgrid_marketing")
    assert "options.apikey" in str(caught.value) and "very-secret" not in str(caught.value)
