"""The Google Ads Customer Match destination against its sandbox over loopback HTTP."""

from __future__ import annotations

import pytest
import requests

from connectors.base import AuthError, Destination, Operation, Outcome, Record
from connectors.google_ads.destination import GoogleAdsCustomerMatch
from connectors.google_ads.sandbox import MAX_IDS_PER_REQUEST, GoogleAdsSandbox
from connectors.hashing import sha256_hex

CID, LIST_ID = "1234567890", "555"
USER_LIST = f"customers/{CID}/userLists/{LIST_ID}"


@pytest.fixture()
def gads():
    with GoogleAdsSandbox() as sb:
        yield sb


def dest(sb: GoogleAdsSandbox, **options) -> GoogleAdsCustomerMatch:
    opts = {
        "customer_id": CID, "user_list_id": LIST_ID, "developer_token": "sandbox-dev-token",
        "access_token": "sandbox-google-token", "base_url": sb.base_url, "poll_interval": 0,
        "job_wait_seconds": 5, "backoff_initial": 0.01,
    }
    opts.update(options)
    d = GoogleAdsCustomerMatch.from_options(opts)
    d.sleep = d.http.sleep = lambda s: None
    return d


def person(i: int, op: Operation = Operation.UPSERT, **extra) -> Record:
    payload = {"email": f"P{i}@example.com", "phone": f"+1 650 555 {i:04d}"}
    payload.update(extra)
    return Record(f"p{i}", op, payload)


def emails(sb: GoogleAdsSandbox) -> set[str]:
    return sb.user_list(USER_LIST).identifiers("hashedEmail")


def test_protocol_and_capabilities(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    assert isinstance(d, Destination)
    assert d.capabilities.hashes_identifiers and d.capabilities.max_concurrency == 1
    assert d.capabilities.max_batch_records * 20 <= MAX_IDS_PER_REQUEST


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="customer_id"):
        GoogleAdsCustomerMatch.from_options({"customer_id": "12-34", "user_list_id": "1", "developer_token": "d",
                                             "access_token": "t"})
    with pytest.raises(ValueError, match="client_id"):
        GoogleAdsCustomerMatch.from_options({"customer_id": "1", "user_list_id": "1", "developer_token": "d",
                                             "refresh_token": "r"})
    with pytest.raises(ValueError, match="developer_token"):
        GoogleAdsCustomerMatch.from_options({"customer_id": "1", "user_list_id": "1", "access_token": "t"})
    with pytest.raises(ValueError, match="ad_user_data"):
        GoogleAdsCustomerMatch.from_options({"customer_id": "1", "user_list_id": "1", "developer_token": "d",
                                             "access_token": "t", "ad_user_data": "DENIED"})


def test_job_lifecycle_add_then_remove(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    results = d.write([person(i) for i in range(4)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 4
    [job] = d.jobs
    assert all(r.destination_id == job for r in results)
    assert gads.state.jobs[job].status == "SUCCESS" and gads.state.jobs[job].polls >= 2  # RUNNING, then SUCCESS
    assert emails(gads) == {sha256_hex(f"p{i}@example.com") for i in range(4)}
    assert sha256_hex("+16505550002") in gads.user_list(USER_LIST).identifiers("hashedPhoneNumber")

    results = d.write([person(1, Operation.REMOVE), person(2, Operation.DELETE), person(9)])
    assert {r.key: r.outcome for r in results} == {"p1": Outcome.ACCEPTED, "p2": Outcome.ACCEPTED, "p9": Outcome.ACCEPTED}
    assert emails(gads) == {sha256_hex(f"p{i}@example.com") for i in (0, 3, 9)}
    assert len(d.jobs) == 3  # removes and adds in separate jobs, one after the other

    # the documented request sequence, with auth headers on every call
    paths = [r.path.rsplit("/", 1)[-1] for r in gads.request_log]
    assert paths[:3] == ["googleAds:search", "offlineUserDataJobs:create", paths[2]]
    assert paths[2].endswith(":addOperations") and any(p.endswith(":run") for p in paths)
    for r in gads.request_log:
        assert r.headers["authorization"] == "<redacted>" and r.headers["developer-token"]
        assert b"example.com" not in r.body
    create = gads.requests_to("POST", r":create$")[0].json()
    assert create["job"]["customerMatchUserListMetadata"]["consent"] == {
        "adUserData": "GRANTED", "adPersonalization": "GRANTED"}
    assert d.user_list_size()["sizeForDisplay"] == 3


def test_partial_failures_map_back_by_operation_index(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    gads.faults.reject(sha256_hex("p2@example.com"), "identifier blocked in sandbox")
    nothing = Record("x", Operation.UPSERT, {"email": "nope", "phone": "12"})
    results = {r.key: r for r in d.write([person(0), person(1), person(2), nothing, person(3)])}
    assert results["x"].outcome is Outcome.REJECTED  # never sent: nothing hashable
    assert results["p2"].outcome is Outcome.REJECTED and "INVALID_USER_IDENTIFIER" in results["p2"].error
    assert {results[k].outcome for k in ("p0", "p1", "p3")} == {Outcome.ACCEPTED}
    assert emails(gads) == {sha256_hex(f"p{i}@example.com") for i in (0, 1, 3)}
    [add] = gads.requests_to("POST", r":addOperations$")
    assert add.json()["enablePartialFailure"] is True and len(add.json()["operations"]) == 4


def test_sandbox_validates_hashes_and_partial_failure(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    job = d._create_job()
    ops = [{"create": {"userIdentifiers": [{"hashedEmail": "not-a-hash"}]}},
           {"create": {"userIdentifiers": [{"hashedEmail": sha256_hex("a@b.co"), "hashedPhoneNumber": "x"}]}},
           {"create": {"userIdentifiers": [{"hashedEmail": sha256_hex(f"{i}@b.co")} for i in range(21)]}},
           {"create": {"userIdentifiers": [{"hashedEmail": sha256_hex("ok@b.co")}]}}]
    strict = d._call(f"/{job}:addOperations", {"operations": ops})
    assert strict.status_code == 400 and strict.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert gads.state.jobs[job].operations == []
    partial = d._call(f"/{job}:addOperations", {"operations": ops, "enablePartialFailure": True}).json()
    errors = partial["partialFailureError"]["details"][0]["errors"]
    assert [e["location"]["fieldPathElements"][0]["index"] for e in errors] == [0, 1, 2]
    assert [e["errorCode"]["offlineUserDataJobError"] for e in errors] == [
        "INVALID_SHA256_FORMAT", "INVALID_USER_IDENTIFIER", "TOO_MANY_USER_IDENTIFIERS"]
    assert len(gads.state.jobs[job].operations) == 1


def test_requests_stay_within_identifier_limits(gads: GoogleAdsSandbox) -> None:
    d = dest(gads, max_identifiers_per_request=1_000)
    records = [Record(f"k{i}", Operation.UPSERT, {"email": f"u{i}@example.org", "phone": f"+4930{i:07d}"})
               for i in range(1_700)]
    results = d.write(records)
    assert sum(r.outcome is Outcome.ACCEPTED for r in results) == 1_700
    counts = [sum(len(op["create"]["userIdentifiers"]) for op in r.json()["operations"])
              for r in gads.requests_to("POST", r":addOperations$")]
    assert max(counts) <= 1_000 and sum(counts) == 3_400 and len(counts) == 4
    per_user = [len(op["create"]["userIdentifiers"]) for r in gads.requests_to("POST", r":addOperations$")
                for op in r.json()["operations"]]
    assert max(per_user) <= 20
    assert len(emails(gads)) == 1_700


def test_sandbox_refuses_over_100k_identifiers(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    job = d._create_job()
    ops = [{"create": {"userIdentifiers": [{"hashedEmail": "0" * 64}] * 20}}] * 5001
    answer = d._call(f"/{job}:addOperations", {"operations": ops, "enablePartialFailure": True})
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["errors"][0]["errorCode"] == {
        "offlineUserDataJobError": "TOO_MANY_USER_IDENTIFIERS"}


def test_no_overlapping_jobs_on_one_list(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    other = dest(gads)
    # someone else's job is running on the list
    job = other._create_job()
    other._call(f"/{job}:addOperations", {"operations": [
        {"create": {"userIdentifiers": [{"hashedEmail": sha256_hex("other@example.com")}]}}]})
    assert other._call(f"/{job}:run", {}).status_code == 200
    # running a second job directly is refused by the vendor...
    second = other._create_job()
    other._call(f"/{second}:addOperations", {"operations": [
        {"create": {"userIdentifiers": [{"hashedEmail": sha256_hex("x@example.com")}]}}]})
    clash = requests.post(f"{gads.base_url}/v26/{second}:run", json={}, timeout=5, headers={
        "Authorization": "Bearer sandbox-google-token", "developer-token": "sandbox-dev-token"})
    assert clash.status_code == 409
    assert clash.json()["error"]["details"][0]["errors"][0]["errorCode"] == {
        "databaseError": "CONCURRENT_MODIFICATION"}
    assert gads.state.jobs[second].status == "PENDING"
    # ...and our destination waits for the running job before running its own
    results = d.write([person(1)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED]
    assert gads.state.jobs[job].status == "SUCCESS"
    assert {sha256_hex("other@example.com"), sha256_hex("p1@example.com")} <= emails(gads)
    runs = [r for r in gads.requests_to("POST", r":run$") if r.status == 200]
    assert len(runs) == 2


def test_list_busy_past_the_wait_leaves_records_retryable(gads: GoogleAdsSandbox) -> None:
    gads.polls_to_finish = 10_000
    other = dest(gads)
    job = other._create_job()
    other._call(f"/{job}:addOperations", {"operations": [
        {"create": {"userIdentifiers": [{"hashedEmail": sha256_hex("other@example.com")}]}}]})
    other._call(f"/{job}:run", {})
    d = dest(gads, job_wait_seconds=0)
    results = d.write([person(1)])
    assert [r.outcome for r in results] == [Outcome.RETRYABLE] and "still running" in results[0].error
    assert not gads.requests_to("POST", r":create$")[1:]  # no second job was even created


def test_failed_job_rejects_and_running_job_policy(gads: GoogleAdsSandbox) -> None:
    gads.fail_next_job("CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS")
    d = dest(gads)
    [result] = d.write([person(1)])
    assert result.outcome is Outcome.REJECTED and "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS" in result.error
    assert emails(gads) == set()

    gads.polls_to_finish = 10_000
    strict = dest(gads, job_wait_seconds=0, accept_running_jobs=False)
    [result] = strict.write([person(2)])
    assert result.outcome is Outcome.RETRYABLE and "RUNNING" in result.error


def test_rate_limit_429_is_retried_with_retry_after(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        gads.set_rate_limit(None)  # the wait passed

    d.http.sleep = sleep
    gads.set_rate_limit(0.2, burst=1)
    gads.request_log.clear()
    results = d.write([person(1)])
    assert [r.outcome for r in results] == [Outcome.ACCEPTED]
    throttled = [r for r in gads.request_log if r.status == 429]
    assert len(throttled) == 1 and slept == [5.0]  # Retry-After: 5 (1 token / 0.2 per s)


def test_auth_errors(gads: GoogleAdsSandbox) -> None:
    with pytest.raises(AuthError):
        dest(gads, access_token="wrong").write([person(1)])
    with pytest.raises(AuthError):
        dest(gads, developer_token="wrong").write([person(1)])
    assert not gads.state.jobs


def test_refresh_token_flow(gads: GoogleAdsSandbox) -> None:
    d = dest(gads, access_token=None, refresh_token="sandbox-refresh-token", client_id="cid",
             client_secret="secret", token_url=f"{gads.base_url}/token")
    assert [r.outcome for r in d.write([person(1)])] == [Outcome.ACCEPTED]
    [token] = gads.requests_to("POST", r"^/token$")
    assert "developer-token" not in token.headers
    gads.access_token = "rotated-token"  # the hour is up: the old access token stops working
    assert [r.outcome for r in d.write([person(2)])] == [Outcome.ACCEPTED]
    assert len(gads.requests_to("POST", r"^/token$")) == 2


def test_reconcile_is_retryable(gads: GoogleAdsSandbox) -> None:
    assert {r.outcome for r in dest(gads).reconcile([person(1)])} == {Outcome.RETRYABLE}


def test_user_list_size_snapshot_lands_once_per_day(tmp_path) -> None:
    import duckdb

    from connectors.google_ads.engagement import pull_user_list_size

    with GoogleAdsSandbox(match_rate=0.5) as sb:
        d = dest(sb)
        d.write([person(i) for i in range(200)])
        sizes = pull_user_list_size(d, uploaded=200, path=tmp_path / "w.duckdb")
        pull_user_list_size(d, path=tmp_path / "w.duckdb")
    assert 60 < sizes["sizeForDisplay"] < 140  # about half matched
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    rows = con.execute("select user_list, size_for_display, uploaded from raw.google_ads_user_list_sizes").fetchall()
    con.close()
    assert rows == [(USER_LIST, sizes["sizeForDisplay"], 200)]


def test_server_errors_and_dropped_connections_are_retried(gads: GoogleAdsSandbox) -> None:
    d = dest(gads)
    gads.faults.fail_next(1, status=503, path=r":addOperations$")
    gads.faults.drop_next(1, after_processing=False, path=r":run$")  # the socket closes before any work
    assert [r.outcome for r in d.write([person(1)])] == [Outcome.ACCEPTED]
    assert d.http.retries == 2
    assert [r.status for r in gads.requests_to("POST", r":run$")] == [None, 200]
    assert emails(gads) == {sha256_hex("p1@example.com")}


def test_full_replace_is_remove_all_then_creates_in_one_job(gads: GoogleAdsSandbox) -> None:
    from connectors.base import RejectedError

    d = dest(gads)
    d.write([person(i) for i in range(100, 105)])
    results = d.replace_all([person(i) for i in range(3)])
    assert {r.outcome for r in results} == {Outcome.ACCEPTED}
    assert emails(gads) == {sha256_hex(f"p{i}@example.com") for i in range(3)}
    job = d.jobs[-1]
    ops = gads.state.jobs[job].operations
    assert ops[0] == {"removeAll": True} and len(ops) == 4
    with pytest.raises(RejectedError):
        d.replace_all([Record("x", Operation.UPSERT, {"email": "nope"})])
    assert len(emails(gads)) == 3
