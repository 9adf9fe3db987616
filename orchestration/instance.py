"""The Dagster instance folder: DAGSTER_HOME (default .ferry/dagster) with the project's dagster.yaml.

Dagster reads ``$DAGSTER_HOME/dagster.yaml``; the project keeps its copy at the
repository root (reviewed with the code), so commands that start Dagster
install it first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from orchestration.paths import PROJECT_ROOT, ferry_home

PROJECT_DAGSTER_YAML = PROJECT_ROOT / "dagster.yaml"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or ferry_home() / "dagster").resolve()


def prepare_dagster_home() -> Path:
    """Create DAGSTER_HOME, install the project's dagster.yaml when it changed, export the variable."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if PROJECT_DAGSTER_YAML.exists() and (
        not target.exists() or target.read_bytes() != PROJECT_DAGSTER_YAML.read_bytes()
    ):
        shutil.copyfile(PROJECT_DAGSTER_YAML, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
