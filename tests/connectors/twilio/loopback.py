"""A Twilio webhook receiver on a loopback port, configured with that port as its public URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from connectors.engagement_store import EngagementStore, WsgiServer
from connectors.twilio.engagement import TwilioWebhookReceiver
from connectors.twilio.sandbox import SANDBOX_AUTH_TOKEN


@contextmanager
def loopback_receiver(
    store: EngagementStore, auth_token: str = SANDBOX_AUTH_TOKEN
) -> Iterator[tuple[TwilioWebhookReceiver, WsgiServer]]:
    """The port is known only once the server listens; Twilio (the sandbox) calls it
    directly, so the public URL is the loopback one."""
    receiver = TwilioWebhookReceiver(store, auth_token, public_url="http://127.0.0.1")
    with WsgiServer(receiver) as server:
        receiver.public_url = server.base_url
        yield receiver, server
