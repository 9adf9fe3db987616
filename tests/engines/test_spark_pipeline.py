"""Spark (dbt-spark session mode, pyspark local): identity, profiles, scores and
audiences build from the same generated data and give DuckDB's clusters; the sync
engine's plan query runs on Spark SQL. Slow (a JVM, one Spark job per model):
excluded from the default run, `pytest -m spark` runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.paths import DBT_PROJECT_DIR
from syncs.config import load_syncs
from syncs.plan_sql import build_plan_sql
from tests.engines.clusters import IDENTIFIERS_SQL, pairs, partition
from tests.engines.conftest import DBT_VARS, DUCKDB_ONLY_TESTS
from tests.engines.dbt_cli import run_dbt
from tests.engines.spark_env import load_raw_into_spark, spark_env, spark_session
from tests.engines.spark_warehouse import SparkPlanWarehouse

# A JVM and one Spark job per model and test: the whole module took 23 to 39 minutes on
# two busy shared cores; the build gets 50 minutes before it is stopped.
BUILD_TIMEOUT_S = 3000
pytestmark = [pytest.mark.spark, pytest.mark.timeout(BUILD_TIMEOUT_S + 1200)]

# identity -> profiles -> scores, consent (the sync policies) -> audiences, and what they read.
SELECTION = ["+path:models/marts", "+path:models/audiences"]


@pytest.fixture(scope="module")
def spark_build(generated_raw: Path, duckdb_baseline, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("engines-spark")
    env = spark_env(root)
    load_raw_into_spark(generated_raw, env)
    run_dbt(
        ["build", "--select", *SELECTION, *DUCKDB_ONLY_TESTS],
        target="spark",
        work=root,
        env=env,
        dbt_vars=DBT_VARS,
        timeout=BUILD_TIMEOUT_S,
    )
    spark = spark_session(env)  # dbt's process has exited: the Derby metastore is free
    yield {"spark": spark, "manifest": root / "target" / "manifest.json"}
    spark.stop()


def test_spark_profiles_match_duckdb(spark_build, duckdb_baseline) -> None:
    spark = spark_build["spark"]
    on_spark = partition(tuple(r) for r in spark.sql(IDENTIFIERS_SQL).collect())
    on_duckdb = duckdb_baseline.clusters()
    assert sum(len(c) > 1 for c in on_spark) > 10, "the generated data must exercise merging"
    only_spark, only_duck = on_spark - on_duckdb, on_duckdb - on_spark
    assert not only_spark and not only_duck, (
        f"{len(only_spark)} clusters only on Spark, {len(only_duck)} only on DuckDB; "
        f"e.g. {sorted(map(sorted, only_spark))[:2]} vs {sorted(map(sorted, only_duck))[:2]}"
    )
    assert pairs(on_spark) == pairs(on_duckdb)


def test_spark_builds_scores_and_audiences(spark_build) -> None:
    spark = spark_build["spark"]
    profiles = spark.sql(
        "select count(*), count(distinct profile_id) from marts.customer_profiles"
    ).first()
    scored = spark.sql(
        "select count(*) from marts.customer_scores s join marts.customer_profiles p "
        "on p.profile_id = s.profile_id where s.lifecycle_stage is not null"
    ).first()[0]
    audiences = [t.name for t in spark.catalog.listTables("audiences") if t.name.startswith("aud_")]
    sizes = {a: spark.table(f"audiences.{a}").count() for a in audiences}
    assert profiles[0] == profiles[1] > 100
    assert 0.9 * profiles[0] <= scored <= profiles[0]
    assert len(audiences) >= 10 and sum(sizes.values()) > 0, sizes


def test_sync_plan_query_runs_on_spark_sql(spark_build) -> None:
    spark = spark_build["spark"]
    wh = SparkPlanWarehouse(spark)
    syncs = [
        s
        for s in load_syncs(spark_build["manifest"], DBT_PROJECT_DIR / "destinations.yml")
        if s.mode in ("upsert", "mirror")
    ]
    assert syncs
    ran = 0
    for sync in syncs:
        size = spark.table(f"{sync.schema_name}.{sync.table}").count()
        plan = build_plan_sql(sync, wh, state_ready=False, destination_key="spark")  # type: ignore[arg-type]
        sql, params = plan.counts()
        counts = {(op, reason): n for op, reason, n, _k in wh.fetchall(sql, params)}
        # Every member is judged once: either work to do (all adds: no state yet) or suppressed.
        assert sum(counts.values()) == size
        assert {op for op, _ in counts} <= {"add", "suppressed"}
        changes, change_params = plan.changes()
        rows = wh.fetchall(changes, change_params)
        assert len(rows) == sum(n for (op, _), n in counts.items() if op == "add")
        ran += 1
    assert ran == len(syncs)
