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
    cpu_seconds: float = 0.0  # user + system of the command (all its threads and children)
    load_before: float = 0.0  # 1-minute load average when it started (a shared machine)


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Measured:
    """Run a command under benchmarks.measure: wall time, that command's own peak RSS
    and CPU time, and the machine's load when it started."""
    load = load_average()
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.measure", *cmd], env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                          cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = cpu = 0.0
    for line in proc.stderr.splitlines():
        if line.startswith("FERRY_MEASURE "):
            report = json.loads(line.split(" ", 1)[1])
            peak, cpu = report["peak_rss_mb"], report.get("cpu_seconds", 0.0)
    if proc.returncode:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    return Measured(seconds, peak, proc.returncode, proc.stdout, cpu, load)


def load_average() -> float:
    """The machine's 1-minute load average (0.0 where /proc is absent)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return 0.0


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
