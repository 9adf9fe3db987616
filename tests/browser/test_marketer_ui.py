"""A marketer runs an audience's sync from the Dagster UI, in a real browser.

Debian's chromium driven by Playwright opens the asset catalog, searches for
the audience, opens its SendGrid sync asset, materializes it, waits for the run
to succeed, and the SendGrid sandbox (a real HTTP server in this test process,
which the run reaches over 127.0.0.1) then holds exactly the audience's
eligible members. A screenshot of the materialized asset is kept under
test-artifacts/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import duckdb
import pytest
import requests
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from orchestration.assets.catalog import load_audiences
from orchestration.testing import expected_email_members, list_name_of, sendgrid_list_emails

# Generous: it builds a sample warehouse, then starts the webserver, on a shared 2-core machine.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(1500)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

RUNS_QUERY = """
query { runsOrError(limit: 5) { __typename ... on Runs { results { runId status jobName } } } }
"""


def _pick_sync():
    """The first audience with a SendGrid list sync (mirror/upsert), win-back preferred."""
    candidates = [
        (a, s) for a in load_audiences() for s in a.syncs
        if s.destination.type == "sendgrid" and s.mode in ("mirror", "upsert")
    ]
    assert candidates, "no audience syncs to a SendGrid list"
    candidates.sort(key=lambda pair: (pair[0].name != "aud_win_back", pair[0].name))
    return candidates[0]


def _runs(base: str) -> list[dict]:
    data = requests.post(f"{base}/graphql", json={"query": RUNS_QUERY}, timeout=10).json()
    return data["data"]["runsOrError"]["results"]


ERRORS_QUERY = """
query($runId: ID!) { logsForRun(runId: $runId) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { message }
  ... on ExecutionStepFailureEvent { error { message } } } } } }
"""


def _run_errors(base: str, run_id: str) -> list[str]:
    data = requests.post(f"{base}/graphql", json={"query": ERRORS_QUERY, "variables": {"runId": run_id}},
                         timeout=10).json()
    events = (data.get("data") or {}).get("logsForRun", {}).get("events", [])
    out = []
    for e in events:
        if "Failure" in e["__typename"]:
            out.append((e.get("error") or {}).get("message") or e.get("message") or e["__typename"])
    return out


def _wait_for_run(base: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = _runs(base)
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(1)
    raise TimeoutError(f"run did not finish in {timeout}s: {_runs(base)}")


def _dismiss_first_visit_dialogs(page) -> None:
    """A fresh Dagster instance greets a first visitor with dialogs (community, what's new)."""
    backdrop = page.locator(".bp5-overlay-backdrop")
    for _ in range(10):
        time.sleep(1)  # dialogs open a moment after the page
        if not backdrop.count() or not backdrop.first.is_visible():
            return
        for name in ("Skip", "Dismiss", "Close", "Got it", "Done", "No thanks"):
            button = page.get_by_role("button", name=name)
            if button.count() and button.first.is_visible():
                button.first.click()
                break
        else:
            page.keyboard.press("Escape")


def test_marketer_materializes_an_audience_sync_from_the_catalog(webserver, ui_env, browser_page):
    _env, sandbox, warehouse = ui_env
    audience, sync = _pick_sync()
    page = browser_page
    search = audience.name.removeprefix("aud_")

    # The asset catalog, as a marketer opens it.
    page.goto(f"{webserver}/assets")
    page.locator(".CodeMirror").first.wait_for(timeout=60_000)
    _dismiss_first_visit_dialogs(page)
    page.locator(".CodeMirror").first.click()
    page.keyboard.type(search)
    page.keyboard.press("Enter")

    # The search lists the audience and its sync; open the sync.
    link = page.locator(f'a[href$="/assets/syncs/{sync.name}"]').first
    link.wait_for(timeout=60_000)
    assert page.locator(f'a[href$="/assets/{"/".join(audience.asset_key.path)}"]').count() >= 1
    link.click()
    page.wait_for_url(re.compile(rf"/assets/syncs/{sync.name}"))
    page.get_by_text("Description").first.wait_for()
    page.get_by_text(f"sync_to_{sync.destination_name}").first.wait_for(timeout=60_000)  # its group

    # Materialize it. The audience was built outside this Dagster instance, so
    # the UI asks to confirm running without an upstream materialization.
    assert _runs(webserver) == []
    page.locator("button", has_text=re.compile(r"^\s*Materialize\s*$")).first.click()
    confirm = page.get_by_role("button", name="Confirm")
    try:
        confirm.wait_for(timeout=10_000)
        confirm.click()
    except PlaywrightTimeoutError:
        pass  # no upstream warning: the run launched directly
    run = _wait_for_run(webserver)
    assert run["status"] == "SUCCESS", (run, _run_errors(webserver, run["runId"]))

    # The asset page now shows the materialization and its sync metadata.
    page.reload()
    page.get_by_text("Latest materialization").first.wait_for()
    page.get_by_text("planned_adds").first.wait_for(timeout=60_000)
    time.sleep(2)  # let the status panel finish loading for the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "marketer_sync_materialized.png"), full_page=True)

    # The sandbox received exactly the eligible members of the audience.
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        expected = expected_email_members(conn, audience, sync)
    finally:
        conn.close()
    assert expected, f"{audience.name} has no eligible member in the sample data"
    assert sendgrid_list_emails(sandbox, list_name_of(sync)) == expected
