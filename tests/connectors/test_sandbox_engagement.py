"""The demo's and tests' sandbox-engagement step: deterministic under a seed,
landed through the signed webhook, and a no-op when no sandbox is running."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors import sandbox_engagement
from connectors.engagement_store import EngagementStore
from connectors.sendgrid import sandbox as sendgrid_sandbox
from connectors.sendgrid.sandbox import SendGridSandbox
from connectors.twilio import sandbox as twilio_sandbox
from tests.connectors.sendgrid.test_sendgrid_engagement import _send


def _outcomes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, seed: int) -> list:
    """Send 60 messages through a fresh sandbox, let its recipients engage, read what landed."""
    warehouse = tmp_path / f"{name}.duckdb"
    with SendGridSandbox() as sb:
        monkeypatch.setattr(sendgrid_sandbox, "_LOCAL", sb)
        monkeypatch.setattr(twilio_sandbox, "_LOCAL", None)
        _send(sb, 60)
        done = sandbox_engagement.simulate_sandbox_engagement(warehouse, seed=seed)
        assert sb.webhook_url is None  # the loopback receiver is gone with the step
    store = EngagementStore(warehouse)
    rows = store.query("select ferry_key, event from raw.sendgrid_events order by ferry_key, event")
    store.close()
    assert done.sendgrid_events == len(rows) and done.twilio_status_changes == 0
    return rows


def test_same_seed_same_engagement(tmp_path, monkeypatch) -> None:
    first = _outcomes(tmp_path, monkeypatch, "a", seed=3)
    again = _outcomes(tmp_path, monkeypatch, "b", seed=3)
    other = _outcomes(tmp_path, monkeypatch, "c", seed=4)
    assert len(first) > 60  # processed + delivered + opens, clicks ... for 60 sends
    assert first == again
    assert first != other


def test_no_running_sandbox_no_engagement(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sendgrid_sandbox, "_LOCAL", None)
    monkeypatch.setattr(twilio_sandbox, "_LOCAL", None)
    done = sandbox_engagement.simulate_sandbox_engagement(tmp_path / "w.duckdb", seed=1)
    assert done == sandbox_engagement.SandboxEngagement(0, 0)
    assert not (tmp_path / "w.duckdb").exists()
