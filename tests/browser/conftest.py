"""The Dagster webserver, a SendGrid sandbox and Debian's chromium, for the marketer's UI test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"

# No daemon in the test: runs launched from the UI start at once (no run queue).
TEST_INSTANCE_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
code_servers:
  local_startup_timeout: 600
"""


def _closed_port() -> int:
    """A loopback port that was free a moment ago and has nothing listening now."""
    return _free_port()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui_setup(tmp_path_factory):
    """A fresh Dagster home and a SendGrid sandbox; yields (env, sandbox, warehouse path)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: run `make system-deps` (scripts/system_deps.sh)")
    from connectors.sendgrid.sandbox import SANDBOX_API_KEY, SendGridSandbox

    root = tmp_path_factory.mktemp("ui")
    warehouse = root / "warehouse.duckdb"
    home = root / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(TEST_INSTANCE_YAML)
    sandbox = SendGridSandbox().start()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SENDGRID_", "TWILIO_", "META_", "GOOGLE_ADS_", "FERRY_WEBHOOK_", "FERRY_ALERT_")
        )
    }
    env.update(
        FERRY_SANDBOX="1",
        # The CRM webhook points at a port nothing listens on: its syncs must show red, with why.
        FERRY_WEBHOOK_URL=f"http://127.0.0.1:{_closed_port()}/hook",
        FERRY_WEBHOOK_SECRET="browser-test-signing-secret",
        DAGSTER_HOME=str(home),
        FERRY_HOME=str(root),
        FERRY_DUCKDB_PATH=str(warehouse),
        FERRY_EXPORT_DIR=str(root / "exports"),
        # The sync in the UI runs in its own process: point SendGrid at this test's sandbox.
        SENDGRID_API_KEY=SANDBOX_API_KEY,
        SENDGRID_HOST=sandbox.base_url,
    )
    try:
        yield env, sandbox, warehouse
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def webserver_process(ui_setup):
    """dagster-webserver started early: its code location loads while ui_env waits for
    the sample warehouse (the location reads the dbt manifest, not the warehouse)."""
    env, _sandbox, _warehouse = ui_setup
    port = _free_port()
    exe = (
        shutil.which("dagster-webserver", path=str(Path(os.sys.executable).parent))
        or "dagster-webserver"
    )
    with open(Path(env["FERRY_HOME"]) / "webserver.log", "w") as log:
        proc = subprocess.Popen(
            [exe, "-h", "127.0.0.1", "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc, f"http://127.0.0.1:{port}", log
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def ui_env(ui_setup, webserver_process, tmp_path_factory):
    """(env, sandbox, warehouse): a copy of the session's sample warehouse (tests/conftest.py,
    built in the background), a SendGrid sandbox, and a Dagster home that knows what the
    build materialized (as after `make demo`): the audiences' latest materializations of
    the build's instance are reported into it, so their pages show size, sample, destinations."""
    from tests import prebuild

    env, sandbox, warehouse = ui_setup
    built, info = prebuild.result("sample_warehouse_build", tmp_path_factory)
    assert info["success"], info["failures"]
    shutil.copyfile(built, warehouse)
    _replay_materializations(Path(info["dagster_home"]), Path(env["DAGSTER_HOME"]))
    return env, sandbox, warehouse


def _replay_materializations(source_home: Path, target_home: Path) -> None:
    from dagster import DagsterInstance

    from orchestration.assets.catalog import load_audiences

    keys = [a.asset_key for a in load_audiences()]
    with DagsterInstance.local_temp(tempdir=str(source_home)) as source:
        events = source.get_latest_materialization_events(keys)
    materializations = [e.asset_materialization for e in events.values() if e is not None]
    assert len(materializations) == len(keys), "the sample build did not materialize every audience"
    with DagsterInstance.from_config(str(target_home)) as target:
        for mat in materializations:
            target.report_runless_asset_event(mat)


@pytest.fixture(scope="module")
def webserver(ui_env, webserver_process):
    proc, base, log = webserver_process
    deadline = time.monotonic() + 600
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {proc.returncode}; see {log.name}")
        try:
            if _location_loaded(base):
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"code location did not load in time; see {log.name}")
        time.sleep(0.25)  # look again soon: the test starts the moment the location loads
    return base


_LOCATION_QUERY = """
query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _location_loaded(base: str) -> bool:
    data = requests.post(f"{base}/graphql", json={"query": _LOCATION_QUERY}, timeout=5).json()
    entries = data["data"]["workspaceOrError"]["locationEntries"]
    for entry in entries:
        loc = entry["locationOrLoadError"]
        if entry["loadStatus"] == "LOADED" and loc and loc["__typename"] == "PythonError":
            raise RuntimeError(
                f"code location {entry['name']} failed to load: {loc['message'][:2000]}"
            )
    return bool(entries) and all(
        e["loadStatus"] == "LOADED"
        and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for e in entries
    )


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    profile = (
        Path(os.environ.get("TMPDIR", "/tmp"))
        / f"ferry-chromium-{os.getpid()}-{time.monotonic_ns()}"
    )
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1440, "height": 900},
        )
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)
