"""The README's PostgreSQL steps, literally, on the throwaway server.

`FERRY_DBT_TARGET=postgres` and the FERRY_PG_* variables, raw data landed in
schema `raw` (the ELT tool's job: here the generated data copied in), then the
commands as the README writes them: `dbt build` in dbt_project (no excludes),
`ferry sync plan <sync>`, `ferry sync run <sync>`, and a second run that sends
nothing. Its own database on the server, so the other PostgreSQL tests' schemas
and sync state are untouched; the developer target's schemas are prefixed
(`dev_marts`), which the CLI reads from the manifest, and the production target
(`postgres_prod`) would write the plain names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from orchestration.paths import DBT_PROJECT_DIR, PROJECT_ROOT
from tests import prebuild
from tests.engines.raw_copy import copy_raw_to_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(1800)]

DATABASE = "ferry_readme"
DBT = str(Path(sys.executable).parent / "dbt")
FERRY = str(Path(sys.executable).parent / "ferry")


def _readme_env(server, work: Path) -> dict[str, str]:
    """The README's variables; dbt's own DBT_TARGET_PATH/DBT_LOG_PATH keep the test's
    manifest out of the project's dbt_project/target."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FERRY_", "DBT_"))}
    env.update({k: v for k, v in server.env().items() if k != "FERRY_PROD_TARGETS"})
    env.update(
        FERRY_DBT_TARGET="postgres",
        FERRY_PG_DATABASE=DATABASE,
        FERRY_SANDBOX="1",  # no vendor credentials here: the sandboxes, chosen
        FERRY_EXPORT_DIR=str(work / "exports"),
        FERRY_HOME=str(work / "home"),
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
    )
    return env


@prebuild.job("postgres_readme_build", users=("readme_build",))
def _build_by_the_readme(work: Path) -> dict:
    server = prebuild.result("postgres_server")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DATABASE}")
        conn.execute(f"create database {DATABASE}")
    dsn = server.dsn.rsplit("/", 1)[0] + f"/{DATABASE}"
    copy_raw_to_postgres(prebuild.result("generated_raw"), dsn)
    env = _readme_env(server, work)
    # The README: `cd dbt_project && dbt build`
    build = subprocess.run(
        [DBT, "build"], cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=1500, check=False
    )
    return {"returncode": build.returncode, "log": build.stdout[-6000:], "env": env, "dsn": dsn, "work": work}


@pytest.fixture(scope="module")
def readme_build(postgres_server, tmp_path_factory) -> dict:
    built = prebuild.result("postgres_readme_build", tmp_path_factory)
    assert built["returncode"] == 0, built["log"]
    return built


def _ferry(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FERRY, "sync", *args], cwd=PROJECT_ROOT, env={**env, "COLUMNS": "250"},
        capture_output=True, text=True, timeout=600, check=False,
    )


def test_dbt_build_passes_on_postgres_as_the_readme_says(readme_build) -> None:
    log = readme_build["log"]
    assert "ERROR=0" in log and "SKIP=0" in log, log[-2000:]
    with psycopg.connect(readme_build["dsn"]) as conn:
        schemas = {r[0] for r in conn.execute("select schema_name from information_schema.schemata")}
    # A developer's target: every dbt schema prefixed, none of production's plain names.
    assert {"dev_staging", "dev_marts", "dev_audiences"} <= schemas
    assert not {"staging", "marts", "audiences"} & schemas


def test_ferry_sync_plans_runs_and_reruns_on_postgres(readme_build) -> None:
    env = readme_build["env"]
    listed = _ferry(env, "list")
    assert "dev_audiences." in listed.stdout and "postgres" in listed.stdout, listed.stdout + listed.stderr
    manifest = json.loads((readme_build["work"] / "target" / "manifest.json").read_text())
    file_syncs = sorted(
        f"{n['name']}__{s['destination']}"
        for n in manifest["nodes"].values()
        if n.get("resource_type") == "model"
        for s in ((n.get("config") or {}).get("meta") or {}).get("ferry", {}).get("syncs", [])
        if s["destination"] == "file_export" and s.get("mode") == "upsert"
    )
    plans = {}
    for name in file_syncs:
        planned = _ferry(env, "plan", name, "--json")
        assert planned.returncode == 0, planned.stderr
        plans[name] = json.loads(planned.stdout)
    sync = max(plans, key=lambda n: plans[n]["counts"].get("add", 0))
    plan = plans[sync]
    adds = plan["counts"]["add"]
    assert adds > 0, {n: p["counts"] for n, p in plans.items()}
    assert plan["warehouse"].startswith("postgres (postgres ") and DATABASE in plan["warehouse"]
    assert plan["destination_identity"].startswith("file:")

    first = _ferry(env, "run", sync, "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    [result] = json.loads(first.stdout)
    assert result["status"] == "success" and result["sent"] == adds

    again = _ferry(env, "run", sync, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    [rerun] = json.loads(again.stdout)
    assert rerun["sent"] == 0 and rerun["planned"]["unchanged"] == adds
    with psycopg.connect(readme_build["dsn"]) as conn:
        held = conn.execute(
            "select count(*) from ferry_sync.sync_state where sync_name = %s", (sync,)
        ).fetchone()[0]
    assert held == adds


def _manifest_for(adapter: str, readme_build: dict, folder: Path) -> Path:
    """The build's manifest, marked as built by another adapter."""
    manifest = json.loads((readme_build["work"] / "target" / "manifest.json").read_text())
    manifest["metadata"]["adapter_type"] = adapter
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_a_manifest_of_another_adapter_is_refused(readme_build, tmp_path) -> None:
    """The issue's trap: planning against the DuckDB file while the target is PostgreSQL."""
    env = readme_build["env"]
    out = _ferry(env, "--manifest", str(_manifest_for("duckdb", readme_build, tmp_path)), "list")
    assert out.returncode == 1
    assert "was built for duckdb, but the active dbt target is postgres" in out.stderr


def test_spark_target_is_refused_for_runs(readme_build, tmp_path) -> None:
    env = {**readme_build["env"], "FERRY_DBT_TARGET": "spark"}
    out = _ferry(env, "--manifest", str(_manifest_for("spark", readme_build, tmp_path)), "list")
    assert out.returncode == 1
    assert "dbt target 'spark' (spark) is not supported for sync runs" in out.stderr, out.stderr
