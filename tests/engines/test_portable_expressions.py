"""The dispatched macros that carry dialect differences (macros/portability) give
DuckDB's answer on PostgreSQL and Spark: the expressions rule audiences compile to
(division, round, concat with nulls, quoted text), and dbt.split_part and
dbt.dateadd, which the project overrides on Spark. One `dbt show --inline` per engine, rendered by dbt on that target.

Marked slow besides the engine: each engine costs a dbt start (and a JVM on Spark)
for a handful of values; the default run covers these engines through the pipelines.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from orchestration.audience_rules.compiler import jinja_string
from tests.engines.conftest import DBT_VARS
from tests.engines.dbt_cli import show_inline
from tests.engines.spark_env import spark_env

QUOTED = "it's a \\ back-slash\\"
# Column -> DuckDB's value (the default__ macros), checked on DuckDB too.
EXPECTED = {
    "divided": 3.5,
    "rounded": 1.3,
    "concatenated": "ab",
    "quoted": QUOTED,
    "plain": "plain",
    "system_part": "shop",
    "dotted_part": "b@c",
    "pipe_part": "y",
    "years_later": "2026-03-01",
}
INLINE = """
select
    {{ ferry_divide('7', '2') }} as divided,
    {{ ferry_round('cast(1.26 as ' ~ ferry_type_double() ~ ')', '1') }} as rounded,
    {{ ferry_concat(["'a'", 'cast(null as ' ~ dbt.type_string() ~ ')', "'b'"]) }} as concatenated,
    {{ ferry_string_literal(quoted) }} as quoted,
    {{ ferry_string_literal('plain') }} as plain,
    {{ dbt.split_part("'shop:1000'", "':'", 1) }} as system_part,
    {{ dbt.split_part("'a.b@c.d'", "'.'", 2) }} as dotted_part,
    {{ dbt.split_part("'x|y'", "'|'", -1) }} as pipe_part,
    cast({{ dbt.dateadd('year', '2026 - 2000', "cast('2000-03-01' as date)") }} as date) as years_later
"""


def _inline() -> str:
    return "{% set quoted = " + jinja_string(QUOTED) + " %}" + INLINE


def _check(rows: list[dict]) -> None:
    assert len(rows) == 1
    row = {k.lower(): v for k, v in rows[0].items()}
    assert set(row) == set(EXPECTED)
    for column, expected in EXPECTED.items():
        if isinstance(expected, float):
            assert math.isclose(float(row[column]), expected, rel_tol=1e-9), (column, row[column])
        elif column == "years_later":  # a date, however the adapter's JSON spells it
            assert str(row[column])[:10] == expected, (column, row[column])
        else:
            assert row[column] == expected, (column, row[column])


@pytest.mark.slow
def test_expressions_on_duckdb(tmp_path: Path) -> None:
    rows = show_inline(
        _inline(),
        target="duckdb",
        work=tmp_path,
        env={"FERRY_DUCKDB_PATH": str(tmp_path / "x.duckdb")},
        dbt_vars=DBT_VARS,
    )
    _check(rows)


@pytest.mark.postgres
@pytest.mark.slow
def test_expressions_on_postgres(postgres_server, tmp_path: Path) -> None:
    rows = show_inline(
        _inline(), target="postgres", work=tmp_path, env=postgres_server.env(), dbt_vars=DBT_VARS
    )
    _check(rows)


@pytest.mark.spark
@pytest.mark.timeout(900)
def test_expressions_on_spark(tmp_path: Path) -> None:
    rows = show_inline(
        _inline(), target="spark", work=tmp_path, env=spark_env(tmp_path), dbt_vars=DBT_VARS
    )
    _check(rows)
