"""A 401/403 with a body tells the user what the vendor said (code and message, PII removed)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.base import AuthError, DestinationStopped
from connectors.http import HttpClient

GOOGLE_NOT_ALLOWLISTED = {
    "error": {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v21.errors.GoogleAdsFailure",
                "errors": [
                    {
                        "errorCode": {"authorizationError": "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE"},
                        "message": "Customer is not allowlisted for accessing this feature.",
                    }
                ],
            }
        ],
    }
}
META_TOKEN = {
    "error": {
        "message": "Error validating access token: the user ann@example.com changed the password",
        "type": "OAuthException",
        "code": 190,
        "error_subcode": 460,
        "fbtrace_id": "AbC",
    }
}
SENDGRID_SCOPE = {"errors": [{"field": None, "message": "access forbidden", "error_id": "scope"}]}
TWILIO_AUTH = {"code": 20003, "message": "Authenticate +1 415 555 0100", "status": 401}


def _serve(status: int, body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _raise(status: int, body: bytes) -> AuthError:
    server = _serve(status, body)
    try:
        client = HttpClient(f"http://127.0.0.1:{server.server_port}", sleep=lambda s: None)
        with pytest.raises(AuthError) as caught:
            client.request("POST", "/v1/x", json={})
        return caught.value
    finally:
        server.shutdown()


def test_google_not_allowlisted_is_a_feature_stop_not_credentials() -> None:
    exc = _raise(403, json.dumps(GOOGLE_NOT_ALLOWLISTED).encode())
    assert isinstance(exc, DestinationStopped)
    text = str(exc)
    assert "HTTP 403 PERMISSION_DENIED/CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE" in text
    assert "Customer is not allowlisted for accessing this feature." in text
    assert "not a credentials problem" in text


@pytest.mark.parametrize(
    ("status", "body", "expected", "absent"),
    [
        (401, META_TOKEN, "HTTP 401 190/460: Error validating access token: the user <email>", "ann@"),
        (403, SENDGRID_SCOPE, "HTTP 403 scope: access forbidden", None),
        (401, TWILIO_AUTH, "HTTP 401 20003: Authenticate <phone>", "555"),
    ],
)
def test_auth_errors_carry_the_vendor_code_and_message_without_pii(
    status: int, body: dict, expected: str, absent: str | None
) -> None:
    exc = _raise(status, json.dumps(body).encode())
    assert type(exc) is AuthError
    assert expected in str(exc)
    if absent:
        assert absent not in str(exc)


def test_an_unreadable_body_gives_the_status_and_never_the_raw_body() -> None:
    exc = _raise(403, b"<html>forbidden for bob@example.com</html>")
    assert str(exc) == "POST /v1/x: HTTP 403"
