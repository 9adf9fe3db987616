"""Dev and prod targets write to different schemas (dbt's generate_schema_name pattern).

`dbt parse` on the developer's `postgres` target and on `postgres_prod` (no server
needed: parsing resolves schemas without connecting), then the sync loader reads
the schema names from each manifest: a developer's syncs diff in `dev_audiences`
against `dev_marts` policies, production's in `audiences` against `marts`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.paths import DBT_PROJECT_DIR
from syncs.config import load_sync_declarations

DBT = str(Path(sys.executable).parent / "dbt")


def _parse(targets: list[str], work: Path) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("FERRY_PROD_TARGETS", "DBT_TARGET_PATH")}
    procs = {
        t: subprocess.Popen(
            [DBT, "parse", "--target", t, "--target-path", str(work / t), "--log-path", str(work / t / "logs")],
            cwd=DBT_PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for t in targets
    }
    out = {}
    for target, proc in procs.items():
        log, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, log[-3000:]
        out[target] = json.loads((work / target / "manifest.json").read_text())
    return out


def _schemas(manifest: dict) -> dict[str, str]:
    return {n["name"]: n["schema"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}


def test_dev_and_prod_targets_write_to_different_schemas(tmp_path):
    manifests = _parse(["postgres", "postgres_prod"], tmp_path)
    dev, prod = _schemas(manifests["postgres"]), _schemas(manifests["postgres_prod"])
    assert prod["customer_suppressions"] == "marts" and prod["aud_win_back"] == "audiences"
    assert dev["customer_suppressions"] == "dev_marts" and dev["aud_win_back"] == "dev_audiences"
    assert dev.keys() == prod.keys()
    assert not set(dev.values()) & set(prod.values())  # nothing a developer builds lands in production

    destinations = DBT_PROJECT_DIR / "destinations.yml"
    for target, (audiences, marts) in {"postgres": ("dev_audiences", "dev_marts"),
                                       "postgres_prod": ("audiences", "marts")}.items():
        path = tmp_path / target / "manifest.json"
        loaded = load_sync_declarations(path, destinations)
        assert loaded.syncs and not loaded.errors
        assert {s.schema_name for s in loaded.syncs} == {audiences}
        assert {s.marts_schema for s in loaded.syncs} == {marts}
