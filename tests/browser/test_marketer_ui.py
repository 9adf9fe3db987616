"""A marketer's day in the Dagster UI, in a real browser, with the clicks counted.

Debian's chromium driven by Playwright, against a real `dagster-webserver` on
127.0.0.1 whose instance knows the sample build's audiences (as after `make
demo`). Each task starts from a page a marketer would have bookmarked and must
take at most MAX_CLICKS clicks (typing is not a click):

1. overview: refresh the audience overview, see every audience, open one and
   read its size, its destinations and a masked sample;
2. preview a sync from the audience's page (sends nothing);
3. sync now, and read the result with its counts; the SendGrid sandbox (a real
   HTTP server in this test process) then holds exactly the eligible members;
4. a sync whose destination (the CRM webhook) sits on a closed port: red, with
   the reason in plain words on the asset page;
5. a sync stopped for confirmation (Meta's minimum audience size) shows why,
   and is confirmed with its confirm job (linked from the sync's page), without
   typing any config;
6. why, per person: the member outcomes page, refreshed, shows who was held
   back and why, with a masked sample per reason.

Screenshots of each step go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from collections import Counter
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
MAX_CLICKS = 4
# How often the test looks again at a condition it waits on (the run list, a dialog).
POLL_MS = 250

RUNS_QUERY = """
query { runsOrError(limit: 1) { __typename ... on Runs { results { runId status jobName } } } }
"""
ERRORS_QUERY = """
query($runId: ID!) { logsForRun(runId: $runId) { __typename ... on EventConnection { events {
  __typename ... on MessageEvent { message }
  ... on ExecutionStepFailureEvent { error { message } } } } } }
"""


class Clicks:
    """Counts the clicks of each task; a task over MAX_CLICKS fails the test."""

    def __init__(self) -> None:
        self.by_task: Counter[str] = Counter()

    def click(self, task: str, locator, page=None) -> None:
        """One click of the marketer's. With `page`: a greeting dialog that opened over the
        button later than `_dismiss_first_visit_dialogs` looked (a loaded machine) is
        dismissed, and the click tried again, until it lands (Playwright clicks nothing
        that a dialog covers, so only the landed click counts)."""
        deadline = time.monotonic() + 120
        while True:
            try:
                locator.click(timeout=5_000 if page is not None else 30_000)
                break
            except PlaywrightTimeoutError:
                if page is None or time.monotonic() > deadline:
                    raise
                _dismiss_open_dialog(page)
        self.by_task[task] += 1

    def confirm_if_asked(self, task: str, confirm, base: str, before: str | None) -> None:
        """Dagster asks to confirm launching when upstream assets were never materialized
        here; otherwise it launches at once. Whichever happens first ends the wait: the
        dialog's button shows (clicked), or the instance lists a new run (no dialog)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                confirm.wait_for(state="visible", timeout=POLL_MS)
            except PlaywrightTimeoutError:
                if (_latest_run(base) or {}).get("runId") != before:
                    return
                continue
            self.click(task, confirm)
            return
        raise TimeoutError(f"{task}: neither a Confirm dialog nor a new run within 120 s")


def _latest_run(base: str) -> dict | None:
    data = requests.post(f"{base}/graphql", json={"query": RUNS_QUERY}, timeout=10).json()
    runs = data["data"]["runsOrError"]["results"]
    return runs[0] if runs else None


def _run_errors(base: str, run_id: str) -> list[str]:
    data = requests.post(
        f"{base}/graphql", json={"query": ERRORS_QUERY, "variables": {"runId": run_id}}, timeout=10
    ).json()
    events = (data.get("data") or {}).get("logsForRun", {}).get("events", [])
    return [
        (e.get("error") or {}).get("message") or e.get("message") or e["__typename"]
        for e in events
        if "Failure" in e["__typename"]
    ]


def _wait_for_new_run(base: str, before: str | None, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _latest_run(base)
        if run and run["runId"] != before and run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(POLL_MS / 1000)
    raise TimeoutError(f"no new run finished in {timeout}s: {_latest_run(base)}")


def _dismiss_first_visit_dialogs(page) -> None:
    """A fresh Dagster instance greets a first visitor with dialogs (community, what's new)."""
    backdrop = page.locator(".bp5-overlay-backdrop")
    for _ in range(10):
        time.sleep(1)  # dialogs open a moment after the page
        if not backdrop.count() or not backdrop.first.is_visible():
            return
        _dismiss_open_dialog(page)


def _dismiss_open_dialog(page) -> None:
    for name in ("Skip", "Dismiss", "Close", "Got it", "Done", "No thanks"):
        button = page.get_by_role("button", name=name)
        if button.count() and button.first.is_visible():
            button.first.click()
            return
    page.keyboard.press("Escape")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"marketer_{name}.png"), full_page=True)


def _materialize(page, clicks: Clicks, task: str, base: str) -> dict:
    before = (_latest_run(base) or {}).get("runId")
    clicks.click(task, page.locator("button", has_text=re.compile(r"^\s*Materialize\s*$")).first, page)
    clicks.confirm_if_asked(task, page.get_by_role("button", name="Confirm", exact=True), base, before)
    return _wait_for_new_run(base, before)


def _sync_for(kind: str, modes: tuple[str, ...] = ("mirror", "upsert", "insert")):
    found = [(a, s) for a in load_audiences() for s in a.syncs if s.destination.type == kind and s.mode in modes]
    assert found, f"no audience syncs to a {kind} destination"
    found.sort(key=lambda pair: (pair[0].name != "aud_win_back", pair[0].name))
    return found


def test_marketer_day_in_the_ui(webserver, ui_env, browser_page):
    _env, sandbox, warehouse = ui_env
    audience, sync = _sync_for("sendgrid", ("mirror", "upsert"))[0]
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        size = conn.execute(f"select count(*) from {audience.relation}").fetchone()[0]
        expected = expected_email_members(conn, audience, sync)
        webhook = next(
            (a, s) for a, s in _sync_for("webhook")
            if conn.execute(f"select count(*) from {a.relation}").fetchone()[0] > 0
        )
    finally:
        conn.close()
    assert expected, f"{audience.name} has no eligible member in the sample data"
    page, clicks = browser_page, Clicks()

    # 1. The overview, refreshed; then one audience's size, destinations and masked sample.
    page.goto(f"{webserver}/assets/reporting/audience_overview")
    page.get_by_text("Automation details").first.wait_for(timeout=120_000)
    _dismiss_first_visit_dialogs(page)
    run = _materialize(page, clicks, "overview", webserver)
    assert run["status"] == "SUCCESS", (run, _run_errors(webserver, run["runId"]))
    page.reload()
    page.get_by_text("overlap").first.wait_for(timeout=60_000)
    for other in load_audiences():
        page.get_by_text(other.title, exact=True).first.wait_for(timeout=30_000)
    _shot(page, "1_overview")
    clicks.click("overview", page.locator(f'a[href="/assets/{"/".join(audience.asset_key.path)}"]').first)
    page.get_by_text("Row count").first.wait_for(timeout=60_000)
    page.get_by_text(str(size), exact=True).first.wait_for()
    page.get_by_text("destinations").first.wait_for()
    page.get_by_text(sync.destination_name, exact=True).first.wait_for()
    page.get_by_text(re.compile(r"^\w\*\*\*@\w\*\*\*\.\w+$")).first.wait_for()  # a masked e-mail in the sample
    _shot(page, "2_audience")

    # 2. Preview the sync from the audience's page: its Checks tab, `preview`, Execute.
    clicks.click("preview", page.locator(f'a[href="/assets/syncs/{sync.name}"]').first)
    page.wait_for_url(re.compile(rf"/assets/syncs/{sync.name}"))
    clicks.click("preview", page.locator('a[href*="view=checks"]').first)
    page.get_by_text("Preview (sends nothing)").first.wait_for(timeout=60_000)
    before = (_latest_run(webserver) or {}).get("runId")
    clicks.click("preview", page.locator("button", has_text=re.compile(r"^\s*Execute\s*$")).first)
    run = _wait_for_new_run(webserver, before)
    assert run["status"] == "SUCCESS", (run, _run_errors(webserver, run["runId"]))
    page.reload()
    page.get_by_text(re.compile(rf"Would add {len(expected)}, update 0, remove 0")).first.wait_for(timeout=60_000)
    _shot(page, "3_preview")
    assert sendgrid_list_emails(sandbox, list_name_of(sync)) == set()  # a preview sends nothing

    # 3. Sync now, and read the result with its counts.
    run = _materialize(page, clicks, "sync now", webserver)
    assert run["status"] == "SUCCESS", (run, _run_errors(webserver, run["runId"]))
    page.reload()
    clicks.click("sync now", page.get_by_text("sync_completed", exact=True).first)
    page.get_by_text(f"Delivered: {len(expected)} added, 0 updated, 0 removed").first.wait_for(timeout=60_000)
    _shot(page, "4_synced")
    assert sendgrid_list_emails(sandbox, list_name_of(sync)) == expected

    # 4. A destination on a closed port: the run fails and the page says why.
    _webhook_audience, webhook_sync = webhook
    page.goto(f"{webserver}/assets/syncs/{webhook_sync.name}?view=checks")
    page.get_by_text("sync_completed").first.wait_for(timeout=60_000)
    run = _materialize(page, clicks, "closed port", webserver)
    assert run["status"] == "FAILURE"
    page.reload()
    clicks.click("closed port", page.get_by_text("sync_completed", exact=True).first)
    reason = page.get_by_text(re.compile(r"^Not finished: \d+ not delivered: .* could not be reached")).first
    reason.wait_for(timeout=60_000)
    assert "ConnectionError" in reason.inner_text() or "tries" in reason.inner_text(), reason.inner_text()
    _shot(page, "5_closed_port")

    # 5. Meta holds back an audience under its minimum size: the sync stops, then is confirmed.
    _meta_audience, meta_sync = _sync_for("meta", ("mirror", "upsert", "insert"))[0]
    page.goto(f"{webserver}/assets/syncs/{meta_sync.name}")
    page.get_by_text("Automation details").first.wait_for(timeout=60_000)
    run = _materialize(page, clicks, "stopped sync", webserver)
    assert run["status"] == "FAILURE"
    page.reload()
    clicks.click("stopped sync", page.locator('a[href*="view=checks"]').first)
    clicks.click("stopped sync", page.get_by_text("sync_completed", exact=True).first)
    page.get_by_text(re.compile(r"^Stopped before sending anything: .*minimum")).first.wait_for(timeout=60_000)
    _shot(page, "6_stopped")
    # Confirming, from the sync's page: its confirm job (listed under the page's jobs), Materialize.
    page.goto(f"{webserver}/assets/syncs/{meta_sync.name}")
    page.get_by_text("Automation details").first.wait_for(timeout=60_000)
    clicks.click("confirm", page.locator(f'a[href$="/jobs/confirm_{meta_sync.name}"]').first)
    page.get_by_text("Confirm and sync").first.wait_for(timeout=60_000)
    run = _materialize(page, clicks, "confirm", webserver)  # the job's Materialize: confirm is preset
    assert run["status"] == "SUCCESS" and run["jobName"] == f"confirm_{meta_sync.name}", (
        run, _run_errors(webserver, run["runId"]),
    )
    page.goto(f"{webserver}/assets/syncs/{meta_sync.name}?view=checks")
    page.get_by_text("sync_completed", exact=True).first.click()
    page.get_by_text(re.compile(r"^Delivered: ")).first.wait_for(timeout=60_000)
    _shot(page, "7_confirmed")

    # 6. Why, per person: the outcomes page, refreshed, shows a masked sample per reason.
    page.goto(f"{webserver}/assets/reporting/sync_member_outcomes")
    page.get_by_text("Automation details").first.wait_for(timeout=60_000)
    run = _materialize(page, clicks, "why per person", webserver)
    assert run["status"] == "SUCCESS", (run, _run_errors(webserver, run["runId"]))
    page.reload()
    page.get_by_text("sample_per_reason").first.wait_for(timeout=60_000)
    page.get_by_text("held back", exact=True).first.wait_for(timeout=60_000)
    assert not page.get_by_text(re.compile(r"[\w.+-]+@[\w-]+\.[a-z]{2,}")).count()  # no address shown whole
    _shot(page, "8_why_per_person")

    print("clicks per task:", dict(clicks.by_task))
    over = {task: n for task, n in clicks.by_task.items() if n > MAX_CLICKS}
    assert not over, f"tasks over {MAX_CLICKS} clicks: {over}"
