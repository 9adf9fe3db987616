"""The one retry layer against a real loopback server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.base import AuthError, RetryableError
from connectors.http import HttpClient


class _Script:
    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.answers = answers
        self.calls = 0


def _serve(script: _Script) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, headers = script.answers[min(script.calls, len(script.answers) - 1)]
            script.calls += 1
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_retry_after_is_honoured_then_success() -> None:
    script = _Script([(429, {"Retry-After": "7"}), (503, {}), (200, {})])
    server = _serve(script)
    slept: list[float] = []
    client = HttpClient(f"http://127.0.0.1:{server.server_port}", sleep=slept.append, backoff_initial=0.01)
    response = client.request("GET", "/x")
    server.shutdown()
    assert response.status_code == 200
    assert script.calls == 3
    assert slept[0] == 7.0  # the server's Retry-After, not our backoff
    assert 0 < slept[1] < 7.0


def test_auth_error_stops_without_retry() -> None:
    script = _Script([(401, {})])
    server = _serve(script)
    client = HttpClient(f"http://127.0.0.1:{server.server_port}", sleep=lambda s: None)
    with pytest.raises(AuthError):
        client.request("GET", "/x")
    server.shutdown()
    assert script.calls == 1


def test_gives_up_as_retryable_and_passes_4xx_through() -> None:
    script = _Script([(500, {})])
    server = _serve(script)
    client = HttpClient(f"http://127.0.0.1:{server.server_port}", sleep=lambda s: None, max_attempts=3)
    with pytest.raises(RetryableError):
        client.request("GET", "/x")
    assert script.calls == 3
    script.answers = [(400, {})]
    assert client.request("GET", "/x").status_code == 400
    server.shutdown()
