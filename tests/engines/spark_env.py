"""Spark in-process for the engine tests: the settings the `spark` target of
dbt_project/profiles.yml reads, and the raw schema copied in from DuckDB.

Why a separate loader process: dbt-spark's session mode starts its SparkSession in
the dbt process, and the embedded Derby metastore admits one JVM at a time. The raw
tables are written (Parquet, managed tables) by a short-lived session here, which is
stopped before dbt starts and finds them in the same warehouse directory and metastore.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.paths import PROJECT_ROOT
from tests.engines.raw_copy import raw_tables


def spark_env(root: Path) -> dict[str, str]:
    """FERRY_SPARK_* variables for a warehouse and metastore under `root`."""
    return {
        "FERRY_SPARK_WAREHOUSE": str(root / "spark-warehouse"),
        "FERRY_SPARK_METASTORE": str(root / "metastore"),
        "FERRY_SPARK_MASTER": "local[2]",
        "FERRY_SPARK_SHUFFLE_PARTITIONS": "2",
    }


def _session(env: dict[str, str]):  # -> pyspark.sql.SparkSession
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master(env["FERRY_SPARK_MASTER"])
        .appName("ferry-raw-loader")
        .config("spark.sql.warehouse.dir", env["FERRY_SPARK_WAREHOUSE"])
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={env['FERRY_SPARK_METASTORE']};create=true",
        )
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", env["FERRY_SPARK_SHUFFLE_PARTITIONS"])
        .config("spark.ui.enabled", "false")
        .enableHiveSupport()
        .getOrCreate()
    )


def load_raw_into_spark(
    duckdb_file: Path, env: dict[str, str], schema: str = "raw"
) -> dict[str, int]:
    """Create database `schema` with every raw table (Arrow in, Parquet out); rows per table.

    In a child process: pyspark keeps its JVM (and the embedded Derby metastore it
    booted) alive after SparkSession.stop(), which would lock dbt's session out.
    """
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "tests.engines.spark_env", str(duckdb_file), schema],
        env={**os.environ, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"loading raw tables into Spark failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _load_in_process(duckdb_file: Path, env: dict[str, str], schema: str) -> dict[str, int]:
    spark = _session(env)
    try:
        spark.sql(f"create database if not exists {schema}")
        counts = {}
        for name, table in raw_tables(duckdb_file, schema).items():
            frame = spark.createDataFrame(table)
            frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.{name}")
            counts[name] = table.num_rows
        return counts
    finally:
        spark.stop()


def spark_session(env: dict[str, str]):  # -> pyspark.sql.SparkSession
    """A session on the warehouse and metastore dbt built into (after dbt has exited)."""
    return _session(env)


if __name__ == "__main__":
    import json
    import os
    import sys

    keys = (
        "FERRY_SPARK_WAREHOUSE",
        "FERRY_SPARK_METASTORE",
        "FERRY_SPARK_MASTER",
        "FERRY_SPARK_SHUFFLE_PARTITIONS",
    )
    print(
        json.dumps(
            _load_in_process(Path(sys.argv[1]), {k: os.environ[k] for k in keys}, sys.argv[2])
        )
    )
