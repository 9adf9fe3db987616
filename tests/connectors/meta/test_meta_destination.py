"""The Meta destination against the Meta sandbox over loopback HTTP."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

import pytest

from connectors.base import AuthError, Destination, Operation, Outcome, Record, RejectedError
from connectors.hashing import sha256_hex
from connectors.meta.destination import MAX_USERS_PER_REQUEST, MetaCustomAudience
from connectors.meta.sandbox import MetaSandbox

AUDIENCE = "23850000000001"
TOKEN = "sandbox-meta-token"


@pytest.fixture()
def meta():
    with MetaSandbox(access_token=TOKEN) as sb:
        yield sb


def dest(sb: MetaSandbox, **options) -> MetaCustomAudience:
    opts = {"audience_id": AUDIENCE, "access_token": TOKEN, "base_url": sb.base_url, "backoff_initial": 0.01}
    opts.update(options)
    d = MetaCustomAudience.from_options(opts)
    d.http.sleep = lambda s: None
    return d


def person(i: int, op: Operation = Operation.UPSERT, **extra) -> Record:
    payload = {"email": f"Person{i}@Example.com ", "phone": f"+1 650 555 {i:04d}", "first_name": "Ann", "country": "US"}
    payload.update(extra)
    return Record(key=f"p{i}", operation=op, payload=payload)


def sent_rows(sb: MetaSandbox, method: str, path: str) -> list[dict]:
    out = []
    for r in sb.requests_to(method, path):
        form = {k: v[0] for k, v in parse_qs(r.body.decode()).items()}
        out.append({"payload": json.loads(form["payload"]), "session": json.loads(form.get("session", "null")), "raw": r})
    return out


def test_is_a_destination_with_capabilities(meta: MetaSandbox) -> None:
    d = dest(meta)
    assert isinstance(d, Destination)
    caps = d.capabilities
    assert caps.hashes_identifiers and caps.min_audience_size == 100
    assert caps.max_batch_records == MAX_USERS_PER_REQUEST == 10_000
    assert {"upsert", "mirror", "delete"} <= caps.modes and "send" not in caps.modes


def test_from_options_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match="audience_id"):
        MetaCustomAudience.from_options({"access_token": "x"})
    with pytest.raises(ValueError, match="schema"):
        MetaCustomAudience.from_options({"audience_id": "1", "access_token": "x", "schema": ["EMAIL", "SSN"]})


def test_add_then_remove_only_hashes_leave(meta: MetaSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    d = dest(meta)
    results = d.write([person(i) for i in range(5)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    held = meta.state.audiences[AUDIENCE]
    assert held.values("EMAIL") == {sha256_hex(f"person{i}@example.com") for i in range(5)}
    assert sha256_hex("16505550003") in held.values("PHONE")

    results = d.write([person(1, Operation.REMOVE), person(3, Operation.DELETE)])
    assert {r.key: r.outcome for r in results} == {"p1": Outcome.ACCEPTED, "p3": Outcome.ACCEPTED}
    assert held.values("EMAIL") == {sha256_hex(f"person{i}@example.com") for i in (0, 2, 4)}

    # nothing raw on the wire or in the logs: every request body holds only hashes
    for req in meta.request_log:
        body = req.body.decode()
        assert "example.com" not in body.lower() and "Ann" not in body
        assert TOKEN not in req.path and not req.query.get("access_token")
    assert "example.com" not in caplog.text.lower() and TOKEN not in caplog.text
    [add] = sent_rows(meta, "POST", r"/users$")
    assert add["payload"]["schema"] == ["EMAIL", "PHONE", "FN", "COUNTRY"]  # the keys the sync maps
    assert all(len(v) in (0, 64) for row in add["payload"]["data"] for v in row)


def test_schema_follows_the_mapped_identifiers(meta: MetaSandbox) -> None:
    d = dest(meta, default_country="FR")
    starter = {"email": "a@example.com", "phone": "06 12 34 56 78", "first_name": "Zoë", "last_name": "Pérez",
               "country": None, "postcode": "75011", "_destination_id": "x", "main_interest": "shoes"}
    d.write([Record("p1", Operation.UPSERT, starter)])
    [add] = sent_rows(meta, "POST", r"/users$")
    assert add["payload"]["schema"] == ["EMAIL", "PHONE", "FN", "LN", "ZIP"]
    assert add["payload"]["data"] == [[sha256_hex("a@example.com"), sha256_hex("33612345678"), sha256_hex("zoë"),
                                       sha256_hex("pérez"), sha256_hex("75011")]]
    fixed = dest(meta, schema=["EMAIL", "FI"])
    fixed.write([Record("p2", Operation.UPSERT, starter)])
    assert sent_rows(meta, "POST", r"/users$")[-1]["payload"]["schema"] == ["EMAIL", "FI"]


def test_record_without_identifier_is_rejected_locally(meta: MetaSandbox) -> None:
    d = dest(meta)
    empty = Record("nobody", Operation.UPSERT, {"email": "not-an-email"})
    results = {r.key: r for r in d.write([empty, person(1)])}
    assert results["nobody"].outcome is Outcome.REJECTED and "no usable identifier" in results["nobody"].error
    assert results["p1"].outcome is Outcome.ACCEPTED
    [add] = sent_rows(meta, "POST", r"/users$")
    assert len(add["payload"]["data"]) == 1


def test_batches_never_exceed_the_documented_limit(meta: MetaSandbox) -> None:
    d = dest(meta, schema=["EMAIL"])
    n = MAX_USERS_PER_REQUEST + 2_345
    records = [Record(f"k{i}", Operation.UPSERT, {"email": f"u{i}@example.org"}) for i in range(n)]
    results = d.write(records)
    assert sum(r.outcome is Outcome.ACCEPTED for r in results) == n
    sizes = [len(s["payload"]["data"]) for s in sent_rows(meta, "POST", r"/users$")]
    assert sizes == [10_000, 2_345]
    assert len(meta.state.audiences[AUDIENCE].members) == n


def test_sandbox_rejects_an_oversized_request_with_meta_error(meta: MetaSandbox) -> None:
    d = dest(meta, schema=["EMAIL"])
    data = [[sha256_hex(f"x{i}")] for i in range(10_001)]
    response = d._post_form("POST", f"/{AUDIENCE}/users", {"payload": {"schema": ["EMAIL"], "data": data}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100 and "fbtrace_id" in response.json()["error"]
    assert AUDIENCE not in meta.state.audiences or not meta.state.audiences[AUDIENCE].members


def test_per_record_invalid_entries_are_mapped_back(meta: MetaSandbox) -> None:
    d = dest(meta)
    meta.faults.reject(sha256_hex("person2@example.com"), "email blocked by sandbox")
    results = {r.key: r for r in d.write([person(i) for i in range(4)])}
    assert results["p2"].outcome is Outcome.REJECTED and "email blocked" in results["p2"].error
    assert all(results[k].outcome is Outcome.ACCEPTED for k in ("p0", "p1", "p3"))
    assert sha256_hex("person2@example.com") not in meta.state.audiences[AUDIENCE].values("EMAIL")


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80003])
def test_rate_limit_codes_are_retried(code: int) -> None:
    with MetaSandbox(access_token=TOKEN, rate_limit_code=code) as sb:
        d = dest(sb)
        sb.set_rate_limit(0.001, burst=1)
        d.write([person(1)])  # spends the only token
        slept: list[float] = []

        def sleep(seconds: float) -> None:  # the backoff "passes": the vendor lets us in again
            slept.append(seconds)
            sb.set_rate_limit(None)

        d.http.sleep = sleep
        assert [r.outcome for r in d.write([person(2)])] == [Outcome.ACCEPTED]
        throttled = [r for r in sb.request_log if r.fault == "rate_limited"]
        assert len(throttled) == 1 and throttled[0].status == 400  # Meta throttles with 400 + code
        assert d.http.retries == 1 and len(slept) == 1
        assert sha256_hex("person2@example.com") in sb.state.audiences[AUDIENCE].values("EMAIL")


def test_rate_limit_exhausted_leaves_records_retryable(meta: MetaSandbox) -> None:
    d = dest(meta, max_attempts=3)
    meta.set_rate_limit(0.001, burst=1)
    meta._buckets["default"].tokens = 0.0
    results = d.write([person(1), person(2)])
    assert {r.outcome for r in results} == {Outcome.RETRYABLE}
    assert len(meta.request_log) == 3


def test_server_errors_are_retried(meta: MetaSandbox) -> None:
    d = dest(meta)
    meta.faults.fail_next(2, status=503)
    assert [r.outcome for r in d.write([person(1)])] == [Outcome.ACCEPTED]
    assert d.http.retries == 2


def test_bad_token_is_an_auth_error(meta: MetaSandbox) -> None:
    d = dest(meta, access_token="wrong")
    with pytest.raises(AuthError, match="190"):
        d.write([person(1)])
    assert not meta.state.audiences


def test_full_replace_through_sessions(meta: MetaSandbox) -> None:
    d = dest(meta, max_users_per_request=40)
    d.write([person(i) for i in range(1000, 1010)])  # old members
    new = [person(i) for i in range(100)]
    results = d.replace_all(new, session_id=777)
    assert all(r.outcome is Outcome.ACCEPTED for r in results) and len(results) == 100
    batches = sent_rows(meta, "POST", r"/usersreplace$")
    assert [b["session"]["batch_seq"] for b in batches] == [1, 2, 3]
    assert [b["session"]["last_batch_flag"] for b in batches] == [False, False, True]
    assert {b["session"]["session_id"] for b in batches} == {777}
    assert {b["session"]["estimated_num_total"] for b in batches} == {100}
    assert max(len(b["payload"]["data"]) for b in batches) <= 40
    held = meta.state.audiences[AUDIENCE]
    assert held.values("EMAIL") == {sha256_hex(f"person{i}@example.com") for i in range(100)}
    assert held.replaced_sessions == [777]


def test_replace_refuses_an_empty_extract(meta: MetaSandbox) -> None:
    d = dest(meta)
    d.write([person(1)])
    with pytest.raises(RejectedError):
        d.replace_all([Record("x", Operation.UPSERT, {"email": None})])
    assert len(meta.state.audiences[AUDIENCE].members) == 1


def test_replace_aborted_mid_session_keeps_old_audience(meta: MetaSandbox) -> None:
    d = dest(meta, max_users_per_request=10, max_attempts=2)
    d.write([person(i) for i in range(500, 505)])

    def arm_after_first_batch(response, *args, **kwargs):  # batch 1 lands, then the vendor fails
        if response.request.url.endswith("/usersreplace") and not meta.faults._armed:
            meta.faults.fail_next(2, status=500, path=r"/usersreplace$")
        return response

    d.http.session.hooks["response"].append(arm_after_first_batch)
    results = {r.key: r.outcome for r in d.replace_all([person(i) for i in range(30)], session_id=9)}
    assert [results[f"p{i}"] for i in range(10)] == [Outcome.ACCEPTED] * 10
    assert {results[f"p{i}"] for i in range(10, 30)} == {Outcome.RETRYABLE}
    assert len(meta.requests_to("POST", r"/usersreplace$")) == 3  # batch 1, then 2 tries of batch 2
    held = meta.state.audiences[AUDIENCE]
    # the unfinished session never replaced anything: the old members still serve
    assert held.values("EMAIL") == {sha256_hex(f"person{i}@example.com") for i in range(500, 505)}
    assert held.replace is not None and held.replace.session_id == 9


def test_overlapping_replace_sessions_are_refused(meta: MetaSandbox) -> None:
    d = dest(meta, max_users_per_request=10)
    rows = {"schema": ["EMAIL"], "data": [[sha256_hex("a@b.co")]]}
    first = d._post_form("POST", f"/{AUDIENCE}/usersreplace", {"payload": rows, "session": {
        "session_id": 1, "batch_seq": 1, "last_batch_flag": False, "estimated_num_total": 2}})
    assert first.status_code == 200
    other = d._post_form("POST", f"/{AUDIENCE}/usersreplace", {"payload": rows, "session": {
        "session_id": 2, "batch_seq": 1, "last_batch_flag": True, "estimated_num_total": 1}})
    assert other.status_code == 400 and other.json()["error"]["code"] == 2650
    # the destination treats a busy audience as "try again later", not a rejection
    results = d.replace_all([person(1)], session_id=3)
    assert [r.outcome for r in results] == [Outcome.RETRYABLE]
    # an abandoned session expires; then a new replace goes through
    meta.replace_timeout = 0.0
    assert [r.outcome for r in d.replace_all([person(1)], session_id=4)] == [Outcome.ACCEPTED]
    assert meta.state.audiences[AUDIENCE].values("EMAIL") == {sha256_hex("person1@example.com")}


def test_audience_size_respects_the_floor_and_gives_a_match_rate() -> None:
    with MetaSandbox(access_token=TOKEN, match_rate=0.5) as sb:
        d = dest(sb, schema=["EMAIL"])
        d.write([Record(f"k{i}", Operation.UPSERT, {"email": f"s{i}@example.net"}) for i in range(60)])
        small = d.pull_audience_size()
        assert small.lower_bound == 0 and not small.deliverable  # under the floor: no size
        d.write([Record(f"k{i}", Operation.UPSERT, {"email": f"s{i}@example.net"}) for i in range(60, 400)])
        size = d.pull_audience_size()
        assert d.last_audience_size == size
        assert size.deliverable and size.lower_bound <= size.upper_bound
        assert 0.35 < size.match_rate(400) < 0.65  # about half matched
        assert size.operation_status == 200
        # removals that would take it under the floor are not reflected
        d.write([Record(f"k{i}", Operation.REMOVE, {"email": f"s{i}@example.net"}) for i in range(390)])
        assert d.pull_audience_size().lower_bound == size.lower_bound
        [get] = sb.requests_to("GET")[:1]
        assert get.headers["authorization"] == "<redacted>" and "access_token" not in get.query


def test_reconcile_is_retryable_for_idempotent_audiences(meta: MetaSandbox) -> None:
    d = dest(meta)
    assert {r.outcome for r in d.reconcile([person(1)])} == {Outcome.RETRYABLE}


def test_audience_size_lands_once_per_day(tmp_path) -> None:
    import duckdb

    from connectors.meta.engagement import pull_audience_size

    db = tmp_path / "w.duckdb"
    with MetaSandbox(access_token=TOKEN, match_rate=0.5) as sb:
        d = dest(sb, schema=["EMAIL"])
        d.write([Record(f"k{i}", Operation.UPSERT, {"email": f"s{i}@example.net"}) for i in range(300)])
        first = pull_audience_size(d, uploaded=300, path=db)
        pull_audience_size(d, path=db)  # re-run the same day: no duplicate, uploaded kept
    con = duckdb.connect(str(db))
    rows = con.execute("select audience_id, lower_bound, uploaded, match_rate from raw.meta_audience_sizes").fetchall()
    con.close()
    assert rows == [(AUDIENCE, first.lower_bound, 300, pytest.approx(first.lower_bound / 300))]


def test_timeout_past_the_client_is_retried_without_duplicates(meta: MetaSandbox) -> None:
    d = dest(meta, timeout=0.3)
    meta.faults.slow_next(1, seconds=0.8)  # Meta applied the add, the answer came too late
    assert [r.outcome for r in d.write([person(1)])] == [Outcome.ACCEPTED]
    assert len(meta.requests_to("POST", r"/users$")) == 2 and d.http.retries == 1
    assert len(meta.state.audiences[AUDIENCE].members) == 1  # adds are idempotent at Meta
