"""A small, fully built sample warehouse for tests (orchestration and browser).

Why in the package: the orchestration tests and the browser test both need
sample data built through dbt up to the audiences. Building it costs a dbt
build, so it is built once per test process (keyed by the dbt manifest and the
generator's code, so a change in either rebuilds) and copied for each user.
Everything runs through the real Dagster definitions (phase "warehouse").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

AS_OF = dt.date(2026, 11, 20)  # pinned so audience sizes do not drift with the calendar
PEOPLE = 150
SEED = 7


def _cache_key(people: int, seed: int) -> str:
    from orchestration.assets.dbt_project import ferry_dbt_project
    from orchestration.paths import PROJECT_ROOT

    digest = hashlib.sha256(f"{people}:{seed}:{AS_OF}".encode())
    digest.update(ferry_dbt_project().manifest_path.read_bytes())
    for path in sorted((PROJECT_ROOT / "orchestration" / "sample_data").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_sample_warehouse(path: Path, *, people: int = PEOPLE, seed: int = SEED) -> dict:
    """Generate sample data into `path` and dbt-build everything but reporting, with checks."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs
    from orchestration.main_job import phase_keys, run_phase
    from orchestration.sample_data import generate

    previous = os.environ.get("FERRY_DUCKDB_PATH")
    os.environ["FERRY_DUCKDB_PATH"] = str(path)  # dbt (profiles.yml) and the warehouse resource read it
    try:
        generate(people, seed, path, as_of=AS_OF)
        with DagsterInstance.ephemeral() as instance:
            result = run_phase(defs, instance, "warehouse", phase_keys(defs)["warehouse"])
    finally:
        if previous is None:
            os.environ.pop("FERRY_DUCKDB_PATH", None)
        else:
            os.environ["FERRY_DUCKDB_PATH"] = previous
    return {"success": result.success, "failures": result.failures, "checks": result.checks}


_BUILT: dict[str, tuple[Path, dict]] = {}


def sample_warehouse(target: Path, *, people: int = PEOPLE, seed: int = SEED) -> dict:
    """Copy a built sample warehouse to `target`, building it first if this process has not yet."""
    key = _cache_key(people, seed)
    if key not in _BUILT:
        cache = Path(tempfile.mkdtemp(prefix="ferry-sample-")) / f"sample-{key}.duckdb"
        info = build_sample_warehouse(cache, people=people, seed=seed)
        _BUILT[key] = (cache, info)
    cache, info = _BUILT[key]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache, target)
    return info
