"""Run-failure notifications reach a webhook over 127.0.0.1, signed, without record values."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from orchestration.notifications import AlertSettings, failure_text, notify


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def _serve():
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_webhook_alert_is_signed_and_names_the_failure():
    _Receiver.received = []
    server = _serve()
    try:
        url = f"http://127.0.0.1:{server.server_port}/alerts"
        settings = AlertSettings(webhook_url=url, webhook_secret="s3cret-s3cret-s3cret")
        text = failure_text("sync_aud_win_back__sendgrid_marketing", "0123456789abcdef",
                            [("syncs__aud_win_back__sendgrid_marketing", "stopped before sending: no_duplicate_keys")])
        assert notify(settings, "Ferry: failed", text, {"run_id": "0123456789abcdef"}) == ["webhook"]
    finally:
        server.shutdown()
    headers, body = _Receiver.received[0]
    expected = hmac.new(b"s3cret-s3cret-s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Ferry-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert "no_duplicate_keys" in payload["text"] and payload["run_id"] == "0123456789abcdef"


def test_email_alert_uses_sendgrid_mail_send():
    _Receiver.received = []
    server = _serve()
    try:
        settings = AlertSettings(email_to="oncall@example.com", sendgrid_api_key="SG.test",
                                 sendgrid_url=f"http://127.0.0.1:{server.server_port}")
        assert settings.enabled
        assert notify(settings, "Ferry: build_warehouse failed", "details") == ["email"]
    finally:
        server.shutdown()
    headers, body = _Receiver.received[0]
    assert headers["Authorization"] == "Bearer SG.test"
    mail = json.loads(body)
    assert mail["personalizations"][0]["to"][0]["email"] == "oncall@example.com"
    assert mail["subject"] == "Ferry: build_warehouse failed"


def test_alerts_are_off_without_configuration():
    assert not AlertSettings().enabled
