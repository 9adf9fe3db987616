"""Pairwise metrics and cluster merging used to judge what fuzzy edges add."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from identity.fuzzy.evaluation import (
    duplicate_recall,
    merge_clusters,
    pairwise_metrics,
)

TRUTH = pa.table({
    "source": ["crm", "crm", "shop", "shop", "web"],
    "source_record_id": ["1", "2", "1", "2", "1"],
    "person_id": ["A", "A", "A", "B", "B"],
    "is_fuzzy_duplicate": [False, False, True, False, False],
})


def _assign(*clusters: str) -> pa.Table:
    return pa.table({
        "source": ["crm", "crm", "shop", "shop", "web"],
        "source_record_id": ["1", "2", "1", "2", "1"],
        "cluster_id": list(clusters),
    })


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.register("truth", TRUTH)
    yield c
    c.close()


def test_pairwise_counts(con) -> None:
    # A = {crm1, crm2, shop1} (3 pairs), B = {shop2, web1} (1 pair)
    con.register("a", _assign("x", "x", "y", "z", "z"))
    m = pairwise_metrics(con, "select * from a", truth="truth")
    assert (m.records, m.true_pairs, m.predicted_pairs, m.true_positive_pairs) == (5, 4, 2, 2)
    assert m.precision == 1.0 and m.recall == 0.5


def test_merging_along_edges_joins_clusters_transitively(con) -> None:
    base = _assign("x", "x", "y", "z", "z")
    edges = pa.table({"source_a": ["crm"], "source_record_id_a": ["2"],
                      "source_b": ["shop"], "source_record_id_b": ["1"]})
    merged = merge_clusters(base, edges)
    con.register("merged", merged)
    m = pairwise_metrics(con, "select * from merged", truth="truth")
    assert m.recall == 1.0 and m.precision == 1.0
    wrong = merge_clusters(base, pa.table({"source_a": ["crm"], "source_record_id_a": ["1"],
                                           "source_b": ["web"], "source_record_id_b": ["1"]}))
    con.register("wrong", wrong)
    assert pairwise_metrics(con, "select * from wrong", truth="truth").precision < 1.0


def test_duplicate_recall_counts_pairs_with_a_flagged_record(con) -> None:
    con.register("before", _assign("x", "x", "y", "z", "z"))
    con.register("after", _assign("x", "x", "x", "z", "z"))
    assert duplicate_recall(con, "select * from before", truth="truth") == 0.0
    assert duplicate_recall(con, "select * from after", truth="truth") == 1.0
    con.register("plain", TRUTH.drop(["is_fuzzy_duplicate"]))
    assert duplicate_recall(con, "select * from after", truth="plain") is None
