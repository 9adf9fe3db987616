"""Profiles compared across engines as partitions of source records.

Why partitions and not profile ids: the contract is "the same people are merged";
each profile is the set of (source, source_record_id) it holds, and two engines
agree when they produce the same sets, which is the same pairwise clusters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

Record = tuple[str, str]


def partition(rows: Iterable[tuple[str, str, str]]) -> set[frozenset[Record]]:
    """(source, source_record_id, profile_id) rows -> the set of clusters."""
    groups: dict[str, set[Record]] = defaultdict(set)
    for source, record_id, profile_id in rows:
        groups[str(profile_id)].add((str(source), str(record_id)))
    return {frozenset(g) for g in groups.values()}


def pairs(clusters: set[frozenset[Record]]) -> set[tuple[Record, Record]]:
    """Every unordered pair of records placed in the same cluster."""
    out: set[tuple[Record, Record]] = set()
    for cluster in clusters:
        members = sorted(cluster)
        out.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return out


IDENTIFIERS_SQL = (
    "select distinct source, source_record_id, profile_id from marts.customer_identifiers"
)
