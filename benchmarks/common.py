"""Small helpers shared by the benchmark scripts: timing, peak memory, results files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    output: str


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run a command under benchmarks.measure: wall time and that command's own peak RSS."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.measure", *cmd], env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = 0.0
    for line in proc.stderr.splitlines():
        if line.startswith("FERRY_MEASURE "):
            peak = json.loads(line.split(" ", 1)[1])["peak_rss_mb"]
    if proc.returncode:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    return Measured(seconds, peak, proc.returncode, proc.stdout)


def machine() -> dict[str, Any]:
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def write_results(name: str, rows: list[dict[str, Any]], notes: list[str] | None = None) -> Path:
    """rows: {what, value, unit, target?, peer?, peer_value?, ratio?}."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "rows": rows,
        "notes": notes or [],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
