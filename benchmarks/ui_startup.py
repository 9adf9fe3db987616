"""How long a marketer waits for the Dagster UI with the default project.

Two figures, each the median of a few cold starts in fresh processes:
- UI start-up: `dagster-webserver -w workspace.yaml` launched until the GraphQL
  API reports the `ferry` code location LOADED (what `make ui` makes you wait for);
- code location load: `import orchestration.definitions` in a fresh Python
  (the definitions built from the dbt manifest: dbt assets, one sync asset, check,
  preview, job and confirm job per sync), the bulk of the start-up.

    python -m benchmarks.ui_startup [--quick]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import ROOT, run_measured, write_results

QUERY = """query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename } } } } }"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loaded(base: str) -> bool:
    entries = requests.post(f"{base}/graphql", json={"query": QUERY}, timeout=5).json()["data"][
        "workspaceOrError"
    ]["locationEntries"]
    return bool(entries) and all(
        e["loadStatus"] == "LOADED" and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
        for e in entries
    )


def ui_startup_seconds(home: Path) -> float:
    port = _port()
    exe = str(Path(sys.executable).with_name("dagster-webserver"))
    env = {**os.environ, "DAGSTER_HOME": str(home), "FERRY_HOME": str(home.parent)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [exe, "-h", "127.0.0.1", "-p", str(port), "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {proc.returncode}")
            try:
                if _loaded(f"http://127.0.0.1:{port}"):
                    return time.perf_counter() - started
            except requests.RequestException:
                pass
            time.sleep(0.25)  # polling interval: the figure's resolution
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else 3
    ui, load = [], []
    with tempfile.TemporaryDirectory(prefix="ferry-ui-bench-") as tmp:
        home = Path(tmp) / "dagster"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        for _ in range(repeats):
            ui.append(ui_startup_seconds(home))
            measured = run_measured([sys.executable, "-c", "import orchestration.definitions"], cwd=ROOT,
                                    env={"DAGSTER_HOME": str(home), "FERRY_HOME": tmp})
            if measured.returncode:
                return measured.returncode
            load.append(measured.seconds)
    from orchestration.assets.catalog import load_audiences

    syncs = sum(len(a.syncs) for a in load_audiences())
    write_results(
        "ui_startup",
        [
            {"what": f"UI start-up to code location loaded (default project, {syncs} syncs)",
             "value": round(statistics.median(ui), 2), "unit": "s", "target": "<= 20 s"},
            {"what": "code location load (import orchestration.definitions, fresh process)",
             "value": round(statistics.median(load), 2), "unit": "s"},
        ],
        notes=[(f"median of {repeats} cold starts; runs: UI {[round(x, 1) for x in ui]}, "
                f"load {[round(x, 1) for x in load]}")],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
