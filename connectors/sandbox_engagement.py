"""Sandbox engagement: what the recipients of the demo's and the tests' sends do.

A demo and test step, never part of a production run. Against a real vendor,
engagement happens on its own (people open, click, bounce, reply STOP) and
reaches Ferry through the signed webhooks and list APIs the engagement assets
pull; the local sandboxes have no recipients, so this step plays their part:

- SendGrid: every sent message not yet engaged becomes events (delivered, open,
  click, bounce, unsubscribe, spam report at the sandbox's rates), POSTed
  signed to a loopback receiver that lands them in ``raw.sendgrid_events``;
  bounces and unsubscribes also enter the sandbox's suppression lists, which
  the engagement asset then pulls.
- Twilio: every pending message reaches its final status (and some recipients
  reply STOP), which the engagement asset then pulls from the Messages list.

Deterministic under ``seed``: the same sends and the same seed give the same
outcomes, so a test asserting on engagement never depends on the clock.
Only sandboxes this process already started are touched; none is started here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connectors.engagement_store import EngagementStore, WsgiServer
from connectors.sendgrid import sandbox as sendgrid_sandbox
from connectors.sendgrid.engagement import SendGridEventReceiver
from connectors.twilio import sandbox as twilio_sandbox


@dataclass(frozen=True)
class SandboxEngagement:
    """What one step produced: SendGrid events delivered, Twilio status changes."""

    sendgrid_events: int
    twilio_status_changes: int


def simulate_sandbox_engagement(warehouse: str | Path, *, seed: int) -> SandboxEngagement:
    """Let the running sandboxes' recipients engage; SendGrid's events land in ``warehouse``."""
    events = 0
    sendgrid = sendgrid_sandbox.running_sandbox()
    if sendgrid is not None:
        store = EngagementStore(warehouse)
        store.ensure()
        receiver = WsgiServer(SendGridEventReceiver(store, sendgrid.public_key)).start()
        previous_url = sendgrid.webhook_url
        try:
            sendgrid.webhook_url = receiver.base_url + "/"
            events = len(sendgrid.generate_engagement(seed=seed))
        finally:
            sendgrid.webhook_url = previous_url
            receiver.stop()
            store.close()
    changes = 0
    twilio = twilio_sandbox.running_sandbox()
    if twilio is not None:
        changes = len(twilio.advance(seed=seed))
    return SandboxEngagement(sendgrid_events=events, twilio_status_changes=changes)
