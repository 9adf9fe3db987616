"""Webhook destination against the reference receiver over loopback HTTP."""

from __future__ import annotations

import json
import time

import pytest
import requests

from connectors.base import Destination, Operation, Outcome, Record, RetryableError
from connectors.webhook.destination import WebhookDestination
from connectors.webhook.sandbox import WebhookReceiver
from connectors.webhook.signing import SignatureError, sign, verify

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture()
def receiver():
    with WebhookReceiver(secret=SECRET) as sb:
        yield sb


def dest(sb: WebhookReceiver, **options) -> WebhookDestination:
    opts = {"url": sb.url(), "secret": SECRET, "name": "crm_hook", "backoff_initial": 0.01}
    opts.update(options)
    d = WebhookDestination.from_options(opts)
    d.http.sleep = lambda s: None
    return d


def rec(i: int, op: Operation = Operation.UPSERT, **payload) -> Record:
    return Record(f"p{i}", op, payload or {"email": f"p{i}@example.com", "tier": i}, idempotency_key=None)


def test_signing_roundtrip_and_rejections() -> None:
    body = b'{"a":1}'
    header = sign(SECRET, body, timestamp=1_700_000_000)
    assert verify(SECRET, header, body, now=1_700_000_100) == 1_700_000_000
    for bad_header, bad_body, now in [
        (None, body, 1_700_000_000),
        ("t=1700000000", body, 1_700_000_000),
        (header, b'{"a":2}', 1_700_000_000),  # tampered
        (sign("another-secret-xxxxxxxx", body, 1_700_000_000), body, 1_700_000_000),  # forged
        (header, body, 1_700_000_000 + 301),  # replayed later
    ]:
        with pytest.raises(SignatureError):
            verify(SECRET, bad_header, bad_body, now=now)


def test_batches_are_signed_verified_and_recorded(receiver: WebhookReceiver) -> None:
    d = dest(receiver)
    assert isinstance(d, Destination)
    results = d.write([rec(1), rec(2), rec(3, Operation.REMOVE)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert receiver.state.records == {"p1": {"email": "p1@example.com", "tier": 1},
                                      "p2": {"email": "p2@example.com", "tier": 2}}
    [batch] = receiver.state.batches
    assert [r["operation"] for r in batch["records"]] == ["upsert", "upsert", "remove"]
    [req] = receiver.request_log
    assert req.headers["x-ferry-signature"].startswith("t=") and req.headers["x-ferry-batch-id"] == batch["batch_id"]
    assert verify(SECRET, req.headers["x-ferry-signature"], req.body) > 0
    # erasure carries only the key
    d.write([rec(1, Operation.DELETE)])
    assert receiver.state.batches[-1]["records"][0]["payload"] == {} and "p1" not in receiver.state.records


def test_forged_unsigned_tampered_and_malformed_posts_store_nothing(receiver: WebhookReceiver) -> None:
    d = dest(receiver)
    batch_id, body = d.body([rec(1)])
    url = receiver.url()
    good = sign(SECRET, body)
    base = {"Content-Type": "application/json", "X-Ferry-Batch-Id": batch_id}
    assert requests.post(url, data=body, headers=base, timeout=5).status_code == 401
    assert requests.post(url, data=body, headers={**base, "X-Ferry-Signature": sign("wrong-secret-xxxxxxxx", body)},
                         timeout=5).status_code == 401
    assert requests.post(url, data=body.replace(b"p1@", b"p9@"), headers={**base, "X-Ferry-Signature": good},
                         timeout=5).status_code == 401
    old = sign(SECRET, body, timestamp=int(time.time()) - 3600)
    assert requests.post(url, data=body, headers={**base, "X-Ferry-Signature": old}, timeout=5).status_code == 401
    junk = b"not json"
    assert requests.post(url, data=junk, headers={**base, "X-Ferry-Signature": sign(SECRET, junk)},
                         timeout=5).status_code == 400
    assert receiver.state.batches == [] and receiver.state.records == {}
    assert receiver.state.rejected_requests == 5
    # the genuine one passes
    assert requests.post(url, data=body, headers={**base, "X-Ferry-Signature": good}, timeout=5).status_code == 200
    assert list(receiver.state.records) == ["p1"]


def test_per_record_errors_are_mapped_back(receiver: WebhookReceiver) -> None:
    receiver.faults.reject("p2", "unknown customer")
    results = {r.key: r for r in dest(receiver).write([rec(1), rec(2), rec(3)])}
    assert results["p2"].outcome is Outcome.REJECTED and results["p2"].error == "unknown customer"
    assert results["p1"].outcome is results["p3"].outcome is Outcome.ACCEPTED
    assert set(receiver.state.records) == {"p1", "p3"}


def test_429_retry_after_and_5xx_are_retried(receiver: WebhookReceiver) -> None:
    d = dest(receiver)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        receiver.set_rate_limit(None)

    d.http.sleep = sleep
    receiver.set_rate_limit(0.5, burst=1)
    d.write([rec(1)])
    assert [r.outcome for r in d.write([rec(2)])] == [Outcome.ACCEPTED]
    assert slept == [2.0]  # the receiver's Retry-After
    receiver.faults.fail_next(2, status=503)
    assert [r.outcome for r in d.write([rec(3)])] == [Outcome.ACCEPTED]
    assert d.http.retries == 3 and set(receiver.state.records) == {"p1", "p2", "p3"}


def test_dropped_answer_never_double_sends(receiver: WebhookReceiver) -> None:
    d = dest(receiver)
    send = Record("p1", Operation.SEND, {"email": "p1@example.com"}, idempotency_key="sync1:p1:a")
    receiver.faults.drop_next(1, after_processing=True)  # stored, but the answer is lost mid-body
    results = d.write([send])
    if results[0].outcome is Outcome.RETRYABLE:  # the engine resends on its next run
        assert results[0].error
        results = d.write([send])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED]
    assert len(receiver.state.sends) == 1 and receiver.state.duplicates == 1


def test_send_mode_dedupes_on_idempotency_key(receiver: WebhookReceiver) -> None:
    d = dest(receiver)
    send = Record("p1", Operation.SEND, {"email": "p1@example.com"}, idempotency_key="sync1:p1:2026-11-25")
    d.write([send])
    d.write([send])  # a later run resending an in-doubt send
    assert len(receiver.state.sends) == 1 and receiver.state.duplicates == 1
    assert {r.outcome for r in d.reconcile([send])} == {Outcome.RETRYABLE}


def test_exhausted_retries_stop_the_batch_and_4xx_rejects(receiver: WebhookReceiver) -> None:
    d = dest(receiver, max_attempts=2)
    receiver.faults.fail_next(2, status=500)
    # the budget spent: the whole batch stays pending and the engine stops the run here
    with pytest.raises(RetryableError, match="gave up after 2 tries"):
        d.write([rec(1), rec(2)])
    bad = dest(receiver, url=receiver.base_url + "/nothing-here")
    assert {r.outcome for r in bad.write([rec(1)])} == {Outcome.REJECTED}


def test_batch_limits_are_declared_and_options_validated(receiver: WebhookReceiver) -> None:
    d = dest(receiver, max_batch_records=50, max_batch_bytes=20_000)
    assert d.capabilities.max_batch_records == 50 and d.capabilities.max_batch_bytes == 20_000
    with pytest.raises(ValueError, match="secret"):
        WebhookDestination.from_options({"url": receiver.url(), "secret": "short"})
    with pytest.raises(ValueError, match="url"):
        WebhookDestination.from_options({"url": "ftp://x", "secret": SECRET})
    assert json.loads(d.body([rec(1)])[1])["destination"] == "crm_hook"


def test_url_tokens_never_reach_errors(receiver: WebhookReceiver) -> None:
    d = dest(receiver, url=receiver.url() + "?token=s3cr3t-receiver-token", max_attempts=2)
    receiver.faults.fail_next(2, status=502)
    with pytest.raises(RetryableError) as raised:
        d.write([rec(1)])
    assert "s3cr3t" not in str(raised.value) and "/hooks/ferry" in str(raised.value)


def test_userinfo_in_url_becomes_basic_auth(receiver: WebhookReceiver) -> None:
    url = receiver.url().replace("http://", "http://hook-user:hook-pass@")
    d = dest(receiver, url=url)
    assert "hook-pass" not in d.http.base_url
    assert [r.outcome for r in d.write([rec(1)])] == [Outcome.ACCEPTED]
    assert receiver.request_log[-1].headers["authorization"] == "<redacted>"  # sent as basic auth


def test_json_batches_carry_the_same_envelope_as_records(receiver: WebhookReceiver) -> None:
    """write_json (payloads as JSON text, connectors.base.JsonBatch) sends what write() sends."""
    import datetime as dt

    import pyarrow as pa

    from connectors.base import BatchAccepted, JsonBatch, Operation, Record
    from connectors.json_columns import dumps

    d = dest(receiver)
    records = [
        Record("p1", Operation.UPSERT, {"email": "a@x.com", "name": 'Zoë "Q"', "n": 3, "d": dt.date(2026, 1, 2)}),
        Record("p2", Operation.REMOVE, {"email": "b@x.com", "_destination_id": "x1"}),
        Record("p3", Operation.DELETE, {"email": "c@x.com"}, attempt=2),
    ]
    batch = JsonBatch(
        pa.array([r.key for r in records]),
        pa.array([r.operation.value for r in records]),
        pa.array([dumps(dict(r.payload)) for r in records]),
        pa.array([r.attempt for r in records]),
    )
    _, by_records = d.body(records)
    _, by_columns = d.json_body(batch)
    as_sent = [json.loads(b) for b in (by_records, by_columns)]
    for envelope in as_sent:
        envelope.pop("batch_id"), envelope.pop("sent_at")
    assert as_sent[0] == as_sent[1]
    assert by_columns.split(b'"records":')[1] == by_records.split(b'"records":')[1]  # byte for byte
    answer = d.write_json(batch)
    assert isinstance(answer, BatchAccepted) and answer.destination_id.startswith("crm_hook-")
    # Idempotency keys, a key JSON must escape, and columns that are slices of larger ones
    # (the engine cuts a chunk into batches by slicing): still byte for byte.
    sends = [
        Record('k"1\\é', Operation.SEND, {"email": "a@x.com"}, "idem-1"),
        Record("k2", Operation.SEND, {"email": "b@x.com"}, None),
    ]
    sliced = JsonBatch(
        pa.array(["skip", *(r.key for r in sends)]).slice(1),
        pa.array(["upsert", *(r.operation.value for r in sends)]).slice(1),
        pa.array(["{}", *(dumps(dict(r.payload)) for r in sends)]).slice(1),
        pa.array([1, *(r.attempt for r in sends)]).slice(1),
        pa.array(["skip", *(r.idempotency_key for r in sends)]).slice(1),
    )
    _, by_records = d.body(sends)
    _, by_columns = d.json_body(sliced)
    assert by_columns.split(b'"records":')[1] == by_records.split(b'"records":')[1]
    json.loads(by_columns)
    # An operation outside the contract is this batch's fault, raised before any request.
    with pytest.raises(ValueError, match="operation"):
        d.json_body(JsonBatch(pa.array(["k"]), pa.array(['up"sert']), pa.array(["{}"]), pa.array([1])))
    [sent] = receiver.state.batches
    assert [r["key"] for r in sent["records"]] == ["p1", "p2", "p3"]
    assert sent["batch_id"] == answer.destination_id
