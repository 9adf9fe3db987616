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
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
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


def _truth_sql(con: duckdb.DuckDBPyConnection) -> str:
    tables = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }
    has_erasure = {"intermediate.int_profile_ids_resolved", "marts.erased_profiles"} <= tables
    return _TRUTH.format(erased=_ERASED if has_erasure else "")


def evaluate(con: duckdb.DuckDBPyConnection) -> EvaluationResult:
    """Score marts.customer_identifiers against raw.ground_truth in one warehouse."""
    truth = _truth_sql(con)
    records = con.execute(
        """
        with truth as (""" + truth + """),
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
        with truth as (""" + truth + """),
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

    return EvaluationResult(
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


def evaluate_file(duckdb_path: Path, output: Path | None = None) -> EvaluationResult:
    """Evaluate a warehouse file (read-only) and write the result as JSON."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        result = evaluate(con)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(result.to_json() + "\n")
    return result
