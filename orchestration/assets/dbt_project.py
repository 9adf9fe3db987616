"""The one cached dbt project and its manifest.

Why a module of its own: the dbt assets, the sync assets (generated from the
manifest's ``meta.ferry``), the checks and the schedules all read the same
manifest, and a fresh clone has none yet. ``ferry_dbt_project()`` makes sure a
current manifest exists at load time (``dbt parse``) so ``ferry demo``, the UI
and the tests work without a manual build step.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtProject

from orchestration.paths import DBT_PROJECT_DIR

log = logging.getLogger(__name__)

# Inputs whose change makes the manifest stale.
_PARSE_INPUTS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")
_PARSE_FILES = ("dbt_project.yml", "destinations.yml", "packages.yml", "profiles.yml")


def dbt_target_path() -> Path:
    """Where dbt artifacts live: FERRY_DBT_TARGET_PATH, default ``dbt_project/target``."""
    return Path(os.environ.get("FERRY_DBT_TARGET_PATH", DBT_PROJECT_DIR / "target")).resolve()


def _newest_input_mtime(project_dir: Path) -> float:
    newest = 0.0
    for name in _PARSE_FILES:
        path = project_dir / name
        if path.exists():
            newest = max(newest, path.stat().st_mtime)
    for folder in _PARSE_INPUTS:
        root = project_dir / folder
        if not root.exists():
            continue
        for path in root.rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    return _newest_input_mtime(project.project_dir) > manifest.stat().st_mtime


def parse_manifest(project: DbtProject) -> None:
    """Run ``dbt parse`` into the project's target path (no warehouse connection needed)."""
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [str(dbt) if dbt.exists() else "dbt", "parse", "--quiet",
           "--target-path", str(target), "--log-path", str(target / "logs"),
           "--profiles-dir", str(project.profiles_dir)]
    proc = subprocess.run(cmd, cwd=project.project_dir, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"dbt parse failed in {project.project_dir} (exit {proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        )


@lru_cache(maxsize=1)
def ferry_dbt_project() -> DbtProject:
    """The one DbtProject, with a manifest that matches the models on disk.

    Under ``dagster dev`` dagster-dbt re-parses on every load (prepare_if_dev);
    elsewhere we parse only when the manifest is missing or older than a model.
    If parsing fails but an older manifest exists, we keep it and say so, so a
    half-edited model does not take the whole UI down.
    """
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=dbt_target_path())
    if manifest_is_stale(project):
        try:
            # One parse at a time per target folder (the UI's code server, tests and
            # `ferry demo` may load at once); a parse finished meanwhile is reused.
            run_with_concurrent_update_guard(
                project.manifest_path, parse_manifest, guard_timeout_seconds=600, project=project
            )
        except RuntimeError:
            if not project.manifest_path.exists():
                raise
            log.warning("dbt parse failed; using the previous manifest at %s",
                        project.manifest_path, exc_info=True)
    return project


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, Any]:
    return json.loads(ferry_dbt_project().manifest_path.read_text())
