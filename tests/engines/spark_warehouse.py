"""Just enough of the sync engine's Warehouse interface over a SparkSession to
generate the plan query and run it on Spark SQL.

Why not syncs.warehouse.Warehouse: that class wraps a DB-API connection, and
dbt-spark's session mode has none outside dbt; the plan builder only asks for
columns, table existence and the dialect, and the statement is transpiled by the
engine's own `transpile` before Spark runs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from syncs.warehouse import inline_params, transpile


class SparkPlanWarehouse:
    dialect = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark

    def columns(self, schema: str, table: str) -> list[str]:
        if not self.table_exists(schema, table):
            return []
        return [c.lower() for c in self.spark.table(f"{schema}.{table}").columns]

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(f"{schema}.{table}"))

    def sql(self, sql: str, params: Sequence[Any] = ()) -> str:
        """The engine statement (DuckDB dialect, `?` params) as Spark SQL."""
        return transpile(inline_params(sql, params), self.dialect)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(self.sql(sql, params)).collect()]
