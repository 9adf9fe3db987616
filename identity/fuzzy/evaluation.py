"""Pairwise precision and recall of a record clustering against raw.ground_truth.

Used to check what fuzzy edges add on top of deterministic identity: the
deterministic clusters (profile ids of customer_identifiers) are merged along the
fuzzy edges with a union-find, and both clusterings are scored on the same
records. Pairwise metrics count pairs of records: a true pair is two records of
one person; a predicted pair is two records in one cluster.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb
import pyarrow as pa


@dataclass(frozen=True)
class PairwiseMetrics:
    records: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
        }


def pairwise_metrics(
    con: duckdb.DuckDBPyConnection, assignment: str, truth: str = "raw.ground_truth"
) -> PairwiseMetrics:
    """Score ``assignment`` (a table or query with source, source_record_id,
    cluster_id) against ``truth`` (source, source_record_id, person_id), over
    the records present in both."""
    row = con.sql(
        f"""
        with assigned as (
            select distinct a.source, a.source_record_id, a.cluster_id, t.person_id
            from ({assignment}) as a
            inner join {truth} as t
                on t.source = a.source and t.source_record_id = a.source_record_id
        ),
        by_cluster as (select count(*) as n from assigned group by cluster_id),
        by_person as (select count(*) as n from assigned group by person_id),
        by_both as (select count(*) as n from assigned group by cluster_id, person_id)
        select
            (select count(*) from assigned),
            (select coalesce(sum(n * (n - 1) / 2), 0) from by_person),
            (select coalesce(sum(n * (n - 1) / 2), 0) from by_cluster),
            (select coalesce(sum(n * (n - 1) / 2), 0) from by_both)
        """
    ).fetchall()[0]
    return PairwiseMetrics(*(int(v) for v in row))


def duplicate_recall(
    con: duckdb.DuckDBPyConnection, assignment: str, truth: str = "raw.ground_truth"
) -> float | None:
    """Share of true pairs involving a fuzzy duplicate (ground truth flag
    is_fuzzy_duplicate: a record sharing no clean identifier with its person's
    other records) that ``assignment`` puts in one cluster. None when the
    ground truth carries no such flag or no such pair."""
    columns = {c[0] for c in con.sql(f"select * from {truth} limit 0").description}
    if "is_fuzzy_duplicate" not in columns:
        return None
    found, total = con.sql(
        f"""
        with assigned as (
            select distinct a.source, a.source_record_id, a.cluster_id, t.person_id,
                coalesce(t.is_fuzzy_duplicate, false) as is_dup
            from ({assignment}) as a
            inner join {truth} as t
                on t.source = a.source and t.source_record_id = a.source_record_id
        )
        select count(*) filter (where x.cluster_id = y.cluster_id), count(*)
        from assigned as x
        inner join assigned as y
            on y.person_id = x.person_id
            and (x.source < y.source or (x.source = y.source and x.source_record_id < y.source_record_id))
        where x.is_dup or y.is_dup
        """
    ).fetchall()[0]
    return found / total if total else None


def merge_clusters(base: pa.Table, edges: pa.Table) -> pa.Table:
    """Union-find: clusters of ``base`` (source, source_record_id, cluster_id)
    joined along ``edges`` (source_a, source_record_id_a, source_b,
    source_record_id_b). Records only named by edges get their own cluster first.
    """
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: object, b: object) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb, key=str)] = min(ra, rb, key=str)

    rec = list(zip(base["source"].to_pylist(), base["source_record_id"].to_pylist(), strict=True))
    clusters = base["cluster_id"].to_pylist()
    for record, cluster in zip(rec, clusters, strict=True):
        union(("r", record), ("c", cluster))
    cols = [
        edges[c].to_pylist()
        for c in ("source_a", "source_record_id_a", "source_b", "source_record_id_b")
    ]
    for sa, ia, sb, ib in zip(*cols, strict=True):
        union(("r", (sa, ia)), ("r", (sb, ib)))
    records = {node for node in parent if node[0] == "r"}
    return pa.table(
        {
            "source": [n[1][0] for n in records],
            "source_record_id": [n[1][1] for n in records],
            "cluster_id": [str(find(n)) for n in records],
        }
    )
