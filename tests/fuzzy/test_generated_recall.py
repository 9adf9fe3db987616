"""On generated sample data: fuzzy edges raise pairwise recall against
raw.ground_truth while precision stays >= 0.995.

The deterministic clusters are the profile ids of customer_identifiers built
with fuzzy matching disabled; the pairs fuzzy matching merges (the rows
int_fuzzy_edges would hold) then merge clusters (union-find), as the identity
graph does when it unions int_fuzzy_edges.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from identity.fuzzy.evaluation import merge_clusters, pairwise_metrics
from orchestration.paths import DBT_PROJECT_DIR
from tests import prebuild

DBT = Path(sys.executable).with_name("dbt")


def _dbt(db: Path, work: Path, *args: str) -> None:
    env = {**os.environ, "FERRY_DUCKDB_PATH": str(db), "FERRY_DBT_TARGET": "duckdb"}
    cmd = [str(DBT), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--quiet"]
    proc = subprocess.run(cmd, check=False, env=env, cwd=DBT_PROJECT_DIR, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


@prebuild.job("fuzzy_generated_warehouse")
def build_generated_warehouse(work: Path) -> Path:
    db = work / "ferry.duckdb"
    prebuild.generate(db, 1200, 11, None)
    # one build: identity from deterministic evidence only (the var empties
    # int_fuzzy_edges, whatever the identity graph does with it), while
    # int_fuzzy_link_decisions still says which pairs fuzzy matching merges
    _dbt(db, work, "build", "--select", "+customer_identifiers", "+int_fuzzy_edges",
         "--exclude", "test_type:data", "test_type:unit", "--vars", "{fuzzy_matching_enabled: false}")
    return db


@pytest.fixture(scope="module")
def fuzzy_generated_warehouse(tmp_path_factory) -> Path:
    """Generated and built in the background while earlier tests run (tests/prebuild.py)."""
    return prebuild.result("fuzzy_generated_warehouse", tmp_path_factory)


def test_fuzzy_edges_raise_recall_and_keep_precision(fuzzy_generated_warehouse: Path) -> None:
    with duckdb.connect(str(fuzzy_generated_warehouse), read_only=True) as con:
        # person records with no identifier at all are singletons until a fuzzy
        # edge joins them, so both clusterings cover the same records
        base = con.sql(
            """
            select distinct c.source, c.source_record_id, c.profile_id as cluster_id
            from marts.customer_identifiers as c
            union
            select p.source, p.source_record_id, 'single|' || p.source || '|' || p.source_record_id
            from intermediate.int_person_records as p
            anti join marts.customer_identifiers as c
                on c.source = p.source and c.source_record_id = p.source_record_id
            """
        ).to_arrow_table()
        edges = con.sql(
            "select * from intermediate.int_fuzzy_link_decisions where is_merged"
        ).to_arrow_table()
        assert edges.num_rows > 0
        con.register("deterministic", base)
        con.register("with_fuzzy", merge_clusters(base, edges))
        before = pairwise_metrics(con, "select * from deterministic")
        after = pairwise_metrics(con, "select * from with_fuzzy")
    print("deterministic:", before.as_dict(), "\nwith fuzzy:   ", after.as_dict())
    assert after.records == before.records
    assert after.true_positive_pairs > before.true_positive_pairs
    assert after.recall > before.recall
    assert after.precision >= 0.995, after.as_dict()
