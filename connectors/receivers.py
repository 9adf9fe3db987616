"""The production webhook receiver: every vendor's receiver under its path prefix.

Why its own module: it imports each vendor's engagement module, and those import
:mod:`connectors.engagement_store`; kept apart, the imports go one way
(``receivers -> <vendor>.engagement -> engagement_store``), never in a circle.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from connectors.engagement_store import EngagementStore, respond
from connectors.sendgrid.engagement import SendGridEventReceiver
from connectors.twilio.engagement import TwilioWebhookReceiver


def route_by_prefix(apps: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    """One WSGI app serving several receivers by path prefix (e.g. ``/sendgrid``, ``/twilio``).

    The prefix stays in ``PATH_INFO``: Twilio signs the full URL, so the receiver
    must see the path exactly as the vendor requested it.
    """

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        for prefix, target in sorted(apps.items(), key=lambda kv: -len(kv[0])):
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return target(environ, start_response)
        return respond(start_response, 404, "unknown path")

    return app


def receivers_from_env(
    store: EngagementStore, environ: dict[str, str] | None = None
) -> Callable[..., Any]:
    """The production receiver app: SendGrid under ``/sendgrid`` (events), Twilio under ``/twilio``
    (``/twilio/status``, ``/twilio/inbound``), each mounted only when its secret is set:
    ``SENDGRID_WEBHOOK_PUBLIC_KEY`` (the signed-webhook verification key) and
    ``TWILIO_AUTH_TOKEN``; ``FERRY_RECEIVER_PUBLIC_URL`` is the URL the vendors call,
    required with ``TWILIO_AUTH_TOKEN``: Twilio's signature covers that URL, and behind a
    proxy the request line names another one.
    Serve it with any WSGI server, or ``WsgiServer(app, host, port).start()``.
    """
    env = dict(os.environ if environ is None else environ)
    apps: dict[str, Callable[..., Any]] = {}
    if env.get("SENDGRID_WEBHOOK_PUBLIC_KEY"):
        apps["/sendgrid"] = SendGridEventReceiver(store, env["SENDGRID_WEBHOOK_PUBLIC_KEY"])
    if env.get("TWILIO_AUTH_TOKEN"):
        if not env.get("FERRY_RECEIVER_PUBLIC_URL"):
            raise ValueError(
                "TWILIO_AUTH_TOKEN is set but FERRY_RECEIVER_PUBLIC_URL is not: set it to the "
                "public URL Twilio calls (e.g. https://hooks.example.com); Twilio signs that URL"
            )
        apps["/twilio"] = TwilioWebhookReceiver(
            store, env["TWILIO_AUTH_TOKEN"], public_url=env["FERRY_RECEIVER_PUBLIC_URL"]
        )
    if not apps:
        raise ValueError(
            "no receiver configured: set SENDGRID_WEBHOOK_PUBLIC_KEY and/or TWILIO_AUTH_TOKEN"
        )
    return route_by_prefix(apps)
