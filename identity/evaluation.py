"""Identity-resolution quality against the generator's ground truth.

Pairwise metrics: every pair of raw records is a positive when both records
belong to the same true person; the resolver predicts a positive when both get
the same ``profile_id``. Precision = correct predicted pairs / predicted pairs,
recall = correct predicted pairs / true pairs. Pairs are counted with
n*(n-1)/2 per group, never enumerated, so a million records take seconds.

"Clean" recall restricts the true pairs to records joined by a chain of clean
identifiers: valid (per int_identifiers) and held by exactly one true person.
Deterministic linking should find all of those; the rest (fuzzy duplicates that
share no clean identifier, never-identified devices) is what fuzzy matching is for.

Missed pairs are broken down by why they were missed (:data:`MISSED_CATEGORIES`),
and, when the warehouse's identity graph holds fuzzy links, every metric is also
given without them (the components of the deterministic edges alone), so one
build shows what probabilistic matching adds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np


@dataclass(frozen=True)
class PairCounts:
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


# Why a true pair of records ended in two profiles. Each person's records fall
# into fragments (one per predicted profile); a missed pair joins two fragments,
# and the pair of fragments decides the category, checked in this order:
MISSED_CATEGORIES: dict[str, str] = {
    "same_system_customer_ids": "the two fragments hold different account ids of one system "
    "(a second account): never merged by the model, waits for a steward's accept",
    "no_shared_identifier": "both fragments hold person records (name, address...) but no "
    "shared identifier: what fuzzy matching is for",
    "anonymous_device": "one fragment only holds anonymous ids (a device never identified): "
    "nothing to match on",
    "no_person_record": "one fragment holds no person record and no anonymous id (e.g. a "
    "consent change with a phone seen nowhere else, an order line of a key-less order)",
}


# Kinds of generated duplicates (raw.ground_truth.duplicate_kind) always reported; any
# other kind the ground truth holds (the CRM's own duplicates) is reported after them.
DUPLICATE_KINDS: tuple[str, ...] = ("new_contact", "second_account")


@dataclass(frozen=True)
class RecallOf:
    """Recall on the true pairs that involve one kind of record."""

    pairs: int
    found_pairs: int

    @property
    def recall(self) -> float | None:
        return round(self.found_pairs / self.pairs, 6) if self.pairs else None


@dataclass(frozen=True)
class EvaluationResult:
    records: int  # raw records with a key (the universe)
    records_unresolved: int  # in ground truth but absent from customer_identifiers (singletons)
    true_persons: int
    predicted_profiles: int
    precision: float
    recall: float
    f1: float
    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    clean_pairs: int
    clean_correct_pairs: int
    clean_recall: float
    evaluated_at: str
    # missed pairs (true_pairs - correct_pairs) by MISSED_CATEGORIES key
    missed_pairs: dict[str, int] = field(default_factory=dict)
    # recall on the pairs involving a generated fuzzy duplicate, by kind
    # (ground truth column duplicate_kind: DUPLICATE_KINDS, then any other)
    duplicate_recall: dict[str, dict[str, int | float | None]] = field(default_factory=dict)
    # recall on the true pairs of two records of one source (the CRM's own duplicates)
    within_source_recall: dict[str, dict[str, int | float | None]] = field(default_factory=dict)
    fuzzy_links: int = 0  # merged fuzzy pairs in the identity graph
    # precision / recall / f1 / pairs without the fuzzy links (None: no graph to read)
    without_fuzzy: dict[str, float | int] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _pairs(*labels: np.ndarray) -> int:
    """Number of unordered pairs sharing every given label: sum of n*(n-1)/2 over groups."""
    if len(labels[0]) == 0:
        return 0
    _, counts = np.unique(np.stack(labels, axis=1), axis=0, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def pair_counts(truth: np.ndarray, predicted: np.ndarray) -> PairCounts:
    """Pairwise counts for two labelings of the same records (integer label arrays)."""
    return PairCounts(
        true_pairs=_pairs(truth),
        predicted_pairs=_pairs(predicted),
        correct_pairs=_pairs(truth, predicted),
    )


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Component label (smallest member index) of each of n nodes, given edges.

    Hook roots onto the smaller root, then pointer-jump to the root; parent[x] <= x
    always holds, so no cycles, and a few rounds suffice even for long chains.
    """
    parent = np.arange(n)
    if len(left) == 0:
        return parent
    while True:
        pl, pr = parent[left], parent[right]
        if np.array_equal(pl, pr):
            return parent
        low = np.minimum(pl, pr)
        np.minimum.at(parent, pl, low)
        np.minimum.at(parent, pr, low)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


# Ground truth, less the records of people who asked for erasure: the marts drop
# them on purpose (a tombstone in marts.erased_profiles), so they are out of scope.
_TRUTH = """
            select source, source_record_id, min(person_id) as person_id
            from raw.ground_truth
            where source_record_id is not null{erased}
            group by 1, 2
"""
_ERASED = """
                and (source, source_record_id) not in (
                    select resolved.source, resolved.source_record_id
                    from intermediate.int_profile_ids_resolved as resolved
                    join marts.erased_profiles as erased using (profile_id)
                )"""


# The ground truth without the erasure filter (benchmarks score other resolvers with it).
TRUTH = _TRUTH.format(erased="")


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }


def _truth_sql(con: duckdb.DuckDBPyConnection) -> str:
    has_erasure = {"intermediate.int_profile_ids_resolved", "marts.erased_profiles"} <= _tables(con)
    return _TRUTH.format(erased=_ERASED if has_erasure else "")


def _record_flags(
    con: duckdb.DuckDBPyConnection,
    truth: str,
    n: int,
    index: dict[tuple[str, str], int],
    record_id_namespaces: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """Per record of the universe: duplicate kind, whether it is a person record,
    whether it holds only anonymous ids; and (record, customer id) pairs."""
    tables = _tables(con)
    kind = np.full(n, "", dtype=object)
    truth_columns = {c[0] for c in con.sql("select * from raw.ground_truth limit 0").description}
    if "duplicate_kind" in truth_columns:
        rows = con.execute(
            "select source, source_record_id, min(duplicate_kind) from raw.ground_truth "
            "where duplicate_kind is not null and source_record_id is not null group by 1, 2"
        ).fetchall()
        for source, rid, k in rows:
            if (source, rid) in index:
                kind[index[(source, rid)]] = k
    person_record = np.zeros(n, bool)
    if "intermediate.int_person_records" in tables:
        for source, rid in con.execute(
            "select distinct source, cast(source_record_id as varchar) "
            "from intermediate.int_person_records"
        ).fetchall():
            if (source, rid) in index:
                person_record[index[(source, rid)]] = True
    ids = con.execute(
        f"""
        with truth as ({truth})
        select i.source, i.source_record_id, i.identifier_type, i.identifier_value
        from intermediate.int_identifiers as i
        join truth as t using (source, source_record_id)
        where i.is_valid
        """
    ).fetchnumpy()
    rec = np.array(
        [
            index[k]
            for k in zip(ids["source"].tolist(), ids["source_record_id"].tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    id_type = ids["identifier_type"].astype(str)
    has_anonymous = np.zeros(n, bool)
    has_other = np.zeros(n, bool)
    has_anonymous[rec[id_type == "anonymous_id"]] = True
    has_other[rec[id_type != "anonymous_id"]] = True
    # only account ids keep fragments apart: two record ids of one system (CRM
    # contacts) may be one person, so a miss between them is not "by design"
    record_namespaces = sorted(record_id_namespaces)
    values = ids["identifier_value"].astype(str)
    is_cid = (id_type == "customer_id") & ~np.isin(
        np.array([v.split(":", 1)[0] for v in values], dtype=object), record_namespaces
    )
    return {
        "kind": kind,
        "person_record": person_record,
        "anonymous_only": has_anonymous & ~has_other,
        "cid_record": rec[is_cid],
        "cid_value": values[is_cid],
    }


def missed_pair_breakdown(
    person: np.ndarray, profile: np.ndarray, flags: dict[str, np.ndarray]
) -> dict[str, int]:
    """Missed pairs by MISSED_CATEGORIES key (they sum to true - correct pairs).

    Fragments (person, profile) are few per person, so pairs of fragments are
    enumerated per person; each contributes size_a * size_b missed pairs.
    """
    out = dict.fromkeys(MISSED_CATEGORIES, 0)
    if len(person) == 0:
        return out
    frag_key = np.stack([person, profile], axis=1)
    frags, frag_of, sizes = np.unique(frag_key, axis=0, return_inverse=True, return_counts=True)
    frag_of = frag_of.ravel()
    n_frag = len(frags)
    person_rec = np.zeros(n_frag, bool)
    person_rec[frag_of[flags["person_record"]]] = True
    # a fragment is anonymous-only when every record in it holds only anonymous ids
    not_anonymous = np.zeros(n_frag, bool)
    not_anonymous[frag_of[~flags["anonymous_only"]]] = True
    systems: dict[int, set[str]] = {}
    for r, value in zip(flags["cid_record"].tolist(), flags["cid_value"].tolist(), strict=True):
        systems.setdefault(int(frag_of[r]), set()).add(value.split(":", 1)[0])
    starts = np.flatnonzero(np.r_[True, frags[1:, 0] != frags[:-1, 0]])
    ends = np.r_[starts[1:], n_frag]
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        for a in range(s, e - 1):
            for b in range(a + 1, e):
                w = int(sizes[a]) * int(sizes[b])
                if systems.get(a, set()) & systems.get(b, set()):
                    out["same_system_customer_ids"] += w
                elif person_rec[a] and person_rec[b]:
                    out["no_shared_identifier"] += w
                elif not not_anonymous[a] or not not_anonymous[b]:
                    out["anonymous_device"] += w
                else:
                    out["no_person_record"] += w
    return out


def _recall_of(person: np.ndarray, profile: np.ndarray, marked: np.ndarray) -> RecallOf:
    """True pairs with at least one marked record, and how many share a profile:
    per group of n records with d marked, C(n, 2) - C(n - d, 2) such pairs."""

    def pairs_with_marked(*labels: np.ndarray) -> int:
        if len(labels[0]) == 0:
            return 0
        _, inverse, counts = np.unique(
            np.stack(labels, axis=1), axis=0, return_inverse=True, return_counts=True
        )
        d = np.bincount(inverse.ravel(), weights=marked, minlength=len(counts)).astype(np.int64)
        rest = counts - d
        return int((counts * (counts - 1) // 2 - rest * (rest - 1) // 2).sum())

    return RecallOf(pairs=pairs_with_marked(person), found_pairs=pairs_with_marked(person, profile))


def _without_fuzzy(
    con: duckdb.DuckDBPyConnection, n: int, index: dict[tuple[str, str], int]
) -> tuple[np.ndarray | None, int]:
    """Profiles the identity graph gives without its fuzzy links (components of
    the deterministic record--identifier edges), and the number of fuzzy links.
    (None, 0) when the warehouse has no identity graph with fuzzy links."""
    if "intermediate.int_identity_edges" not in _tables(con):
        return None, 0
    edges = con.execute(
        "select record_key, identifier_node, identifier_type = 'fuzzy' as is_fuzzy "
        "from intermediate.int_identity_edges"
    ).fetchnumpy()
    is_fuzzy = edges["is_fuzzy"].astype(bool)
    fuzzy_links = len(np.unique(edges["identifier_node"][is_fuzzy].astype(str)))
    keys = edges["record_key"].astype(str)[~is_fuzzy]
    rec = np.array([index.get(tuple(k.split("|", 1)), -1) for k in keys.tolist()], dtype=np.int64)
    node = np.unique(edges["identifier_node"].astype(str)[~is_fuzzy], return_inverse=True)[
        1
    ].ravel()
    keep = rec >= 0
    rec, node = rec[keep], node[keep] + n
    labels = connected_components(n + (int(node.max()) - n + 1 if len(node) else 0), rec, node)
    return labels[:n], fuzzy_links


def evaluate(
    con: duckdb.DuckDBPyConnection, record_id_namespaces: Collection[str] = ()
) -> EvaluationResult:
    """Score marts.customer_identifiers against raw.ground_truth in one warehouse.

    ``record_id_namespaces``: customer-id namespaces of kind record_id in the source
    registry (CRM contacts): a miss between two of their ids is not a second
    account kept apart by design."""
    truth = _truth_sql(con)
    records = con.execute(
        """
        with truth as ("""
        + truth
        + """),
        predicted as (
            select source, cast(source_record_id as varchar) as source_record_id, min(profile_id) as profile_id
            from marts.customer_identifiers
            group by 1, 2
        )
        select
            truth.source,
            truth.source_record_id,
            truth.person_id,
            -- unresolved records are their own singleton profiles
            coalesce(cast(predicted.profile_id as varchar), '~unresolved|' || truth.source || '|' || truth.source_record_id) as profile_id,
            predicted.profile_id is null as unresolved
        from truth
        left join predicted using (source, source_record_id)
        order by truth.source, truth.source_record_id
        """
    ).fetchnumpy()
    n = len(records["person_id"])
    person = np.unique(records["person_id"].astype(str), return_inverse=True)[1]
    missing = records["unresolved"].astype(bool)
    profile = np.unique(records["profile_id"].astype(str), return_inverse=True)[1]
    counts = pair_counts(person, profile)

    # Clean components: records linked by valid identifiers that only one true person holds.
    rows = con.execute(
        """
        with truth as ("""
        + truth
        + """),
        ids as (
            select distinct i.identifier_type, i.identifier_value, i.source, i.source_record_id, t.person_id
            from intermediate.int_identifiers as i
            join truth as t using (source, source_record_id)
            where i.is_valid
        ),
        clean as (
            select identifier_type, identifier_value
            from ids
            group by 1, 2
            having count(distinct person_id) = 1
        )
        select ids.identifier_type || '|' || ids.identifier_value as identifier, ids.source, ids.source_record_id
        from ids
        join clean using (identifier_type, identifier_value)
        """
    ).fetchnumpy()
    index = {
        key: i
        for i, key in enumerate(
            zip(records["source"].tolist(), records["source_record_id"].tolist(), strict=True)
        )
    }
    rec = np.array(
        [
            index[k]
            for k in zip(rows["source"].tolist(), rows["source_record_id"].tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    ident = (
        np.unique(rows["identifier"].astype(str), return_inverse=True)[1]
        if len(rec)
        else np.zeros(0, np.int64)
    )
    # Star edges: every record holding an identifier -> the identifier's first record.
    first = np.full(ident.max() + 1 if len(ident) else 0, -1, dtype=np.int64)
    order = np.argsort(ident, kind="stable")
    first_pos = (
        np.r_[True, ident[order][1:] != ident[order][:-1]] if len(order) else np.zeros(0, bool)
    )
    first[ident[order][first_pos]] = rec[order][first_pos]
    component = connected_components(n, rec, first[ident] if len(ident) else rec)
    clean_pairs = _pairs(component)
    clean_correct = _pairs(component, profile)

    flags = _record_flags(con, truth, n, index, record_id_namespaces)
    missed = missed_pair_breakdown(person, profile, flags)
    kinds = {
        kind: _recall_of(person, profile, flags["kind"] == kind)
        for kind in (
            *DUPLICATE_KINDS,
            *sorted(set(flags["kind"].tolist()) - {"", *DUPLICATE_KINDS}),
        )
    }
    sources = records["source"].astype(str)
    within = {}
    for source in sorted(set(sources.tolist())):
        mine = sources == source
        c = pair_counts(person[mine], profile[mine])
        within[source] = RecallOf(pairs=c.true_pairs, found_pairs=c.correct_pairs)
    deterministic, fuzzy_links = _without_fuzzy(con, n, index)
    without = None
    if deterministic is not None:
        c = pair_counts(person, deterministic)
        without = {
            "precision": round(c.precision, 6),
            "recall": round(c.recall, 6),
            "f1": round(c.f1, 6),
            "predicted_pairs": c.predicted_pairs,
            "correct_pairs": c.correct_pairs,
            **{
                f"{k}_recall": _recall_of(person, deterministic, flags["kind"] == k).recall
                for k in kinds
            },
        }

    return EvaluationResult(
        missed_pairs=missed,
        duplicate_recall={k: {**asdict(v), "recall": v.recall} for k, v in kinds.items()},
        within_source_recall={
            k: {**asdict(v), "recall": v.recall} for k, v in within.items() if v.pairs
        },
        fuzzy_links=fuzzy_links,
        without_fuzzy=without,
        records=n,
        records_unresolved=int(missing.sum()),
        true_persons=int(person.max() + 1) if n else 0,
        predicted_profiles=int(profile.max() + 1) if n else 0,
        precision=round(counts.precision, 6),
        recall=round(counts.recall, 6),
        f1=round(counts.f1, 6),
        true_pairs=counts.true_pairs,
        predicted_pairs=counts.predicted_pairs,
        correct_pairs=counts.correct_pairs,
        clean_pairs=clean_pairs,
        clean_correct_pairs=clean_correct,
        clean_recall=round(clean_correct / clean_pairs, 6) if clean_pairs else 1.0,
        evaluated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def evaluate_file(
    duckdb_path: Path, output: Path | None = None, record_id_namespaces: Collection[str] = ()
) -> EvaluationResult:
    """Evaluate a warehouse file (read-only) and write the result as JSON."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        result = evaluate(con, record_id_namespaces)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(result.to_json() + "\n")
    return result
