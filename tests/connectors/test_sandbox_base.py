"""The shared sandbox base over real loopback HTTP: routes, auth, limits, faults, log."""

from __future__ import annotations

import time

import pytest
import requests

from connectors.base import AuthError, RetryableError
from connectors.http import HttpClient
from connectors.sandbox import Request, Response, SandboxServer, TokenBucket


class _Echo(SandboxServer):
    """A minimal vendor: Bearer auth, a counter, an item store with per-record rejections."""

    vendor = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.state = {"count": 0, "items": {}}
        self.route("POST", "/v1/count", self._count)
        self.route("PUT", "/v1/items/{item_id}", self._put_item)
        self.route("GET", "/v1/free", lambda r: Response.json({"ok": True}), bucket="free")

    def authenticate(self, request: Request) -> Response | None:
        if request.header("Authorization") != "Bearer good":
            return self.error_response(401, "bad key", request)
        return None

    def rate_limit_headers(self, bucket: TokenBucket, retry_after: float) -> dict[str, str]:
        return {"X-RateLimit-Remaining": str(bucket.remaining)}

    def _count(self, request: Request) -> Response:
        self.state["count"] += 1
        return Response.json({"count": self.state["count"]}, 201)

    def _put_item(self, request: Request) -> Response:
        body = request.json()
        reason = self.faults.rejection_for(request.params["item_id"])
        if reason:
            return self.error_response(400, reason, request)
        self.state["items"][request.params["item_id"]] = body
        return Response.json(body)


@pytest.fixture()
def echo():
    with _Echo() as sb:
        yield sb


def _client(sb: SandboxServer, **kw) -> HttpClient:
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("backoff_initial", 0.01)
    return HttpClient(sb.base_url, headers={"Authorization": "Bearer good"}, **kw)


def test_routes_params_state_and_log(echo: _Echo) -> None:
    client = _client(echo)
    assert client.request("PUT", "/v1/items/a1", json={"x": 1}).json() == {"x": 1}
    assert echo.state["items"] == {"a1": {"x": 1}}
    assert client.request("GET", "/v1/nothing").status_code == 404
    assert client.request("GET", "/v1/count").status_code == 405
    bad = client.request("PUT", "/v1/items/a2", data=b"{not json")
    assert bad.status_code == 400 and "a2" not in echo.state["items"]
    [put] = echo.requests_to("PUT", r"/items/a1$")
    assert put.status == 200 and put.json() == {"x": 1} and put.body_bytes == len(b'{"x": 1}')
    assert put.headers["authorization"] == "<redacted>"  # the log never keeps credentials


def test_auth_hook_rejects(echo: _Echo) -> None:
    client = HttpClient(
        echo.base_url, headers={"Authorization": "Bearer nope"}, sleep=lambda s: None
    )
    with pytest.raises(AuthError):
        client.request("POST", "/v1/count")
    assert echo.state["count"] == 0


def test_token_bucket_429_retry_after_is_honoured(echo: _Echo) -> None:
    echo.set_rate_limit(5.0, burst=2)
    client = _client(echo, sleep=time.sleep)
    started = time.monotonic()
    for _ in range(4):
        client.request("POST", "/v1/count")
    elapsed = time.monotonic() - started
    limited = [r for r in echo.request_log if r.status == 429]
    assert echo.state["count"] == 4  # every call finally got through, exactly once
    assert limited, "the burst of 2 must have been exceeded"
    assert client.retries == len(limited)
    assert elapsed >= 0.9  # waited Retry-After (1 s, rounded up) rather than hammering
    # another bucket is not limited by this one
    assert client.request("GET", "/v1/free").status_code == 200


def test_rate_limit_headers_on_answers(echo: _Echo) -> None:
    echo.set_rate_limit(1.0, burst=1)
    raw = requests.post(
        echo.base_url + "/v1/count", headers={"Authorization": "Bearer good"}, timeout=5
    )
    assert raw.status_code == 201 and raw.headers["X-RateLimit-Remaining"] == "0"
    raw = requests.post(
        echo.base_url + "/v1/count", headers={"Authorization": "Bearer good"}, timeout=5
    )
    assert raw.status_code == 429 and int(raw.headers["Retry-After"]) >= 1


def test_fail_next_is_retried_and_not_processed(echo: _Echo) -> None:
    echo.faults.fail_next(2, 503, path="/v1/count")
    client = _client(echo)
    assert client.request("POST", "/v1/count").json() == {"count": 1}
    assert [r.status for r in echo.request_log] == [503, 503, 201]
    echo.faults.fail_next(10, 500)
    with pytest.raises(RetryableError):
        _client(echo, max_attempts=3).request("POST", "/v1/count")
    assert echo.state["count"] == 1


def test_slow_response_times_out_after_processing(echo: _Echo) -> None:
    echo.faults.slow_next(1, seconds=0.6)
    with pytest.raises(requests.Timeout):
        requests.post(
            echo.base_url + "/v1/count", headers={"Authorization": "Bearer good"}, timeout=0.2
        )
    assert echo.state["count"] == 1  # in doubt: the vendor did the work


def test_drop_mid_response_after_processing(echo: _Echo) -> None:
    echo.faults.drop_next(1)
    with pytest.raises(requests.RequestException):
        requests.post(
            echo.base_url + "/v1/count", headers={"Authorization": "Bearer good"}, timeout=2
        )
    assert echo.state["count"] == 1
    echo.faults.drop_next(1, after_processing=False)
    with pytest.raises(requests.ConnectionError):
        requests.post(
            echo.base_url + "/v1/count", headers={"Authorization": "Bearer good"}, timeout=2
        )
    assert echo.state["count"] == 1
    assert [r.fault for r in echo.request_log] == ["drop", "drop"]


def test_per_record_rejection(echo: _Echo) -> None:
    echo.faults.reject("bad-item", "item refused")
    client = _client(echo)
    response = client.request("PUT", "/v1/items/BAD-ITEM", json={})
    assert response.status_code == 400 and response.json() == {"error": "item refused"}
    assert client.request("PUT", "/v1/items/ok", json={}).status_code == 200


def test_stop_closes_the_port() -> None:
    sb = _Echo().start()
    url = sb.base_url
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/v1/free", timeout=1)


def test_token_bucket_arithmetic() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.take() == 0.0


def test_a_handler_bug_is_a_500_not_a_hung_connection() -> None:
    class _Buggy(SandboxServer):
        def __init__(self) -> None:
            super().__init__()
            self.route("GET", "/boom", lambda r: 1 / 0)  # type: ignore[arg-type,return-value]

    with _Buggy() as sb:
        response = requests.get(sb.base_url + "/boom", timeout=5)
        assert response.status_code == 500 and "ZeroDivisionError" in response.text
        assert sb.request_log[-1].status == 500
