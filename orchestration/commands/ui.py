"""`ferry ui`: the Dagster UI on 127.0.0.1 with the project's workspace and instance config."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ui", help="start the Dagster UI (dagster dev) on 127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from orchestration.instance import prepare_dagster_home
    from orchestration.paths import PROJECT_ROOT, export_warehouse_env

    prepare_dagster_home()
    export_warehouse_env()
    beside = Path(sys.executable).with_name("dagster")
    dagster = str(beside) if beside.exists() else (shutil.which("dagster") or "dagster")
    cmd = [dagster, "dev", "-h", "127.0.0.1", "-p", str(args.port), "-w", str(PROJECT_ROOT / "workspace.yaml")]
    os.chdir(PROJECT_ROOT)
    os.execv(dagster, cmd)
    return 0  # not reached
