"""Tell a human when a run fails: a webhook (Slack-compatible JSON) and/or an email via SendGrid.

Configured from the environment, off when nothing is set:

- ``FERRY_ALERT_WEBHOOK_URL``: POST ``{"text": ..., "run_id": ..., "job": ...}``;
  with ``FERRY_ALERT_WEBHOOK_SECRET`` the body is signed (``X-Ferry-Signature:
  sha256=<hex HMAC>``) so the receiver can verify it.
- ``FERRY_ALERT_EMAIL_TO`` + ``SENDGRID_API_KEY`` (+ ``FERRY_ALERT_EMAIL_FROM``):
  SendGrid v3 mail send; ``FERRY_ALERT_SENDGRID_URL`` points it at a sandbox.

The message names the job, the failed steps and their error messages, never
record values (errors from syncs carry counts and vendor codes, not PII).
"""


import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from connectors.http import HttpClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str | None = None
    webhook_secret: str | None = None
    email_to: str | None = None
    email_from: str = "ferry@localhost"
    sendgrid_api_key: str | None = None
    sendgrid_url: str = "https://api.sendgrid.com"

    @classmethod
    def from_env(cls) -> "AlertSettings":
        env = os.environ
        return cls(
            webhook_url=env.get("FERRY_ALERT_WEBHOOK_URL") or None,
            webhook_secret=env.get("FERRY_ALERT_WEBHOOK_SECRET") or None,
            email_to=env.get("FERRY_ALERT_EMAIL_TO") or None,
            email_from=env.get("FERRY_ALERT_EMAIL_FROM") or "ferry@localhost",
            sendgrid_api_key=env.get("SENDGRID_API_KEY") or None,
            sendgrid_url=env.get("FERRY_ALERT_SENDGRID_URL") or "https://api.sendgrid.com",
        )

    @property
    def enabled(self) -> bool:
        return bool(self.webhook_url or (self.email_to and self.sendgrid_api_key))


def failure_text(job_name: str, run_id: str, step_errors: list[tuple[str, str]]) -> str:
    lines = [f"Ferry run failed: job {job_name} (run {run_id[:8]})"]
    for step, message in step_errors[:10]:
        lines.append(f"- {step}: {message[:400]}")
    return "\n".join(lines)


def notify(settings: AlertSettings, subject: str, text: str, extra: dict | None = None) -> list[str]:
    """Send the alert through every configured channel; returns the channels used."""
    used: list[str] = []
    if settings.webhook_url:
        body = json.dumps({"text": text, **(extra or {})}).encode()
        headers = {"Content-Type": "application/json"}
        if settings.webhook_secret:
            digest = hmac.new(settings.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Ferry-Signature"] = f"sha256={digest}"
        client = HttpClient(settings.webhook_url, max_attempts=3, timeout=10)
        response = client.request("POST", settings.webhook_url, data=body, headers=headers)
        response.raise_for_status()
        used.append("webhook")
    if settings.email_to and settings.sendgrid_api_key:
        client = HttpClient(
            settings.sendgrid_url,
            headers={"Authorization": f"Bearer {settings.sendgrid_api_key}"},
            max_attempts=3,
            timeout=10,
        )
        response = client.request(
            "POST",
            "/v3/mail/send",
            json={
                "personalizations": [{"to": [{"email": settings.email_to}]}],
                "from": {"email": settings.email_from},
                "subject": subject,
                "content": [{"type": "text/plain", "value": text}],
            },
        )
        response.raise_for_status()
        used.append("email")
    return used


def _step_errors(context: RunFailureSensorContext) -> list[tuple[str, str]]:
    errors = []
    for event in context.get_step_failure_events():
        info = event.event_specific_data.error if event.event_specific_data else None
        errors.append((event.step_key or "?", info.message.strip() if info else "failed"))
    return errors


@run_failure_sensor(
    name="notify_on_run_failure",
    description="Posts to FERRY_ALERT_WEBHOOK_URL and/or emails FERRY_ALERT_EMAIL_TO when a run fails.",
    default_status=(
        DefaultSensorStatus.RUNNING if AlertSettings.from_env().enabled else DefaultSensorStatus.STOPPED
    ),
    monitor_all_code_locations=False,
)
def notify_on_run_failure(context: RunFailureSensorContext) -> None:
    settings = AlertSettings.from_env()
    if not settings.enabled:
        return
    run = context.dagster_run
    text = failure_text(run.job_name, run.run_id, _step_errors(context))
    used = notify(settings, f"Ferry: {run.job_name} failed", text,
                  {"run_id": run.run_id, "job": run.job_name})
    context.log.info(f"failure notification sent via {', '.join(used)}")
