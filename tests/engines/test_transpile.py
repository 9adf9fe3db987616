"""Snowflake and BigQuery: every compiled dbt model and data test, and every statement
the sync engine generates, transpiles with sqlglot in strict mode (unsupported
constructs raise) from DuckDB's dialect to both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.paths import DBT_PROJECT_DIR
from orchestration.transpile import TARGET_DIALECTS, check, compiled_nodes, transpile_manifest
from tests import prebuild
from tests.engines.conftest import DBT_VARS, WAREHOUSE
from tests.engines.dbt_cli import run_dbt
from tests.engines.sync_sql import declared_plan_sql, recorded_run_sql


@prebuild.job("compiled_manifest")
def _compile(work: Path) -> Path:
    """`dbt compile` of the whole project on the DuckDB target (an empty warehouse file)."""
    run_dbt(
        ["compile"],
        target="duckdb",
        work=work,
        env={},
        dbt_vars=DBT_VARS,
        warehouse=work / WAREHOUSE,
    )
    return work / "target" / "manifest.json"


@pytest.fixture(scope="module")
def compiled_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prebuild.result("compiled_manifest", tmp_path_factory)


def test_every_model_and_data_test_transpiles(compiled_manifest: Path) -> None:
    statements, python_models = compiled_nodes(compiled_manifest)
    manifest = json.loads(compiled_manifest.read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    sql_models = [n for n in models if n.get("language") != "python"]
    # Every SQL model compiled (nothing silently skipped); Python models are not SQL.
    assert {n["unique_id"] for n in sql_models} <= set(statements)
    assert len(sql_models) > 80 and sum(k.startswith("test.") for k in statements) > 300
    assert set(python_models) == {n["unique_id"] for n in models if n.get("language") == "python"}
    problems = check(statements, TARGET_DIALECTS)
    assert not problems, "\n".join(map(str, problems))


def test_transpiled_models_are_written_per_dialect(compiled_manifest: Path, tmp_path: Path) -> None:
    for dialect in TARGET_DIALECTS:
        assert transpile_manifest(compiled_manifest, tmp_path, dialect) == []
    profiles = {
        d: (tmp_path / d / "customer_profiles.sql").read_text().lower() for d in TARGET_DIALECTS
    }
    # Dialect-specific spellings prove the SQL was really rewritten, not copied.
    assert "`" in profiles["bigquery"] and "`" not in profiles["snowflake"]


def test_sync_engine_sql_transpiles(
    compiled_manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sql = recorded_run_sql(tmp_path, monkeypatch)
    plans = dict(declared_plan_sql(compiled_manifest, DBT_PROJECT_DIR / "destinations.yml"))
    # Real runs touch state, ledger, results and runs tables in every mode.
    joined = "\n".join(run_sql.values()).lower()
    for table in ("sync_state", "record_status", "runs", "record_results", "send_ledger"):
        assert f"ferry_sync.{table}" in joined
    assert any(":plan:" in k and ":changes:state" in k for k in plans) and len(plans) >= 6 * 10
    problems = check({**run_sql, **plans}, TARGET_DIALECTS)
    assert not problems, "\n".join(map(str, problems))
