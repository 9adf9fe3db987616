"""Run Ferry's matcher on a file of person records and score it against known clusters.

For a data steward's own file (CSV or Parquet) with one row per record and a
column saying which records are the same person: the model is re-estimated on
that file by expectation-maximisation (no labels), its pairs are scored,
pairs at or above the threshold become links, links are closed transitively
(connected components, as the identity graph does), and the clustering is
scored pairwise (precision, recall, F1) against the cluster column.

Column names follow the int_person_records contract (first_name, last_name,
birth_date, street, postcode, city, email, phone); FEBRL-style files
(given_name, surname, street_number, address_1, suburb, postcode, date_of_birth,
soc_sec_id, phone_number) are mapped automatically.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from identity.evaluation import connected_components, pair_counts

if TYPE_CHECKING:
    from identity.fuzzy.training import TrainingOptions

# FEBRL column -> contract column (street is street_number + address_1).
FEBRL_COLUMNS: dict[str, str] = {
    "given_name": "first_name",
    "surname": "last_name",
    "date_of_birth": "birth_date",
    "suburb": "city",
    "postcode": "postcode",
    "phone_number": "phone",
}
# Identifier columns compared when present (exact, one typo, different).
KNOWN_ID_COLUMNS: tuple[str, ...] = ("soc_sec_id",)
SOURCE = "file"
# A file's pairs are linked from this probability on: on FEBRL-style files
# precision stayed 1.0 from 0.9 to 0.99 while recall rose by 1-5 points at 0.95.
# (The warehouse's fuzzy_match_threshold is lower, 0.8: its records carry more
# contradicting levels, e-mails and employers, that keep look-alikes apart.)
DEFAULT_FILE_THRESHOLD = 0.95


class PersonFileError(ValueError):
    """The file lacks a column the evaluation needs."""


@dataclass(frozen=True)
class FileEvaluation:
    records: int
    true_pairs: int
    scored_pairs: int
    links: int  # scored pairs at or above the threshold (before closure)
    predicted_pairs: int  # pairs in one predicted cluster (after closure)
    correct_pairs: int
    precision: float
    recall: float
    f1: float
    # the same on the links themselves, without transitive closure
    link_precision: float
    link_recall: float
    link_f1: float
    threshold: float
    id_columns: list[str] = field(default_factory=list)
    model_version: str = ""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def read_person_file(path: str | Path) -> pa.Table:
    """A CSV or Parquet file, every column as trimmed text (postcodes and ids keep
    their leading zeros; FEBRL's ', '-separated header and values are trimmed)."""
    path = Path(path)
    if not path.is_file():
        raise PersonFileError(f"{path}: no such file")
    if path.suffix.lower() in {".parquet", ".pq"}:
        table = pq.read_table(path)
    else:
        _check_utf8(path)
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=True
            ),
        )
    columns = {}
    for name in table.column_names:
        values = pc.utf8_trim_whitespace(pc.cast(table[name], pa.string()))
        columns[name.strip()] = pc.if_else(pc.equal(values, ""), None, values)
    return pa.table(columns)


def _check_utf8(path: Path) -> None:
    """Refuse a CSV that is not UTF-8, naming the line, rather than failing deep in
    the CSV reader (a Latin-1 export from a CRM is the usual case)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise PersonFileError(
            f"{path}: line {line}: byte 0x{data[error.start]:02x} is not UTF-8; "
            "save the file as UTF-8"
        ) from None


def to_person_records(table: pa.Table, id_col: str) -> pa.Table:
    """Columns renamed to the int_person_records contract (source = 'file')."""
    names = {c.strip().lower(): c for c in table.column_names}
    if id_col not in table.column_names:
        raise PersonFileError(f"no id column {id_col!r} (columns: {', '.join(table.column_names)})")
    out: dict[str, pa.Array] = {
        "source": pa.array([SOURCE] * table.num_rows, pa.string()),
        "source_record_id": pc.cast(table[id_col], pa.string()),
    }
    for febrl, contract in FEBRL_COLUMNS.items():
        if febrl in names and contract not in names:
            out[contract] = pc.utf8_trim_whitespace(pc.cast(table[names[febrl]], pa.string()))
    if "street" not in names and "address_1" in names:
        parts = [
            pc.fill_null(pc.cast(table[names[c]], pa.string()), "")
            for c in ("street_number", "address_1")
            if c in names
        ]
        joined = pc.utf8_trim_whitespace(pc.binary_join_element_wise(*parts, " "))
        out["street"] = pc.if_else(pc.equal(joined, ""), None, joined)
    for column in (
        "first_name",
        "last_name",
        "birth_date",
        "street",
        "postcode",
        "city",
        "email",
        "phone",
    ):
        if column in names and column not in out:
            out[column] = pc.cast(table[names[column]], pa.string())
    for column in KNOWN_ID_COLUMNS:
        if column in names:
            out[column] = pc.cast(table[names[column]], pa.string())
    missing = [c for c in ("first_name", "last_name") if c not in out]
    if missing:
        raise PersonFileError(f"no {' / '.join(missing)} column (or given_name / surname)")
    return pa.table(out)


def rule_recall_from_m(settings: dict, has_email: bool) -> float:
    """Share of true matches the prior's exact rules find, read off the trained
    m probabilities (Fellegi-Sunter's conditional independence): exact name and
    birth date; exact e-mail; an extra identifier with the last name exact."""
    m: dict[tuple[str, str], float] = {}
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if not level.get("is_null_level"):
                key = (comparison["output_column_name"], level.get("label_for_charts", ""))
                m[key] = float(level.get("m_probability") or 0.0)
    last_exact = sum(
        v
        for (c, label), v in m.items()
        if c == "name" and ("last name exact" in label or label.startswith("first and last"))
    )
    misses = 1.0 - m.get(("name", "first and last name exact (either order)"), 0.0) * m.get(
        ("birth_date", "Exact match on birth_date"), 0.0
    )
    if has_email:
        misses *= 1.0 - m.get(("email", "Exact match on email"), 0.0)
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        if name.startswith("xid_"):
            misses *= 1.0 - m.get((name, f"Exact match on {name}"), 0.0) * last_exact
    return min(max(1.0 - misses, 0.05), 0.95)


def _rescale_prior(model_path: Path, assumed_recall: float, *, has_email: bool) -> None:
    """Training assumes the prior's exact rules find ``assumed_recall`` of the
    matches (0.7, right for the warehouse); in a file of typo-laden duplicates
    they find fewer. Once EM has estimated the m probabilities, the prior is
    rescaled by assumed / estimated recall, so it rests on the file's own
    evidence rather than on a guess."""
    settings = json.loads(model_path.read_text(encoding="utf-8"))
    recall = rule_recall_from_m(settings, has_email)
    prior = settings["probability_two_random_records_match"] * assumed_recall / recall
    settings["probability_two_random_records_match"] = min(prior, 0.5)
    model_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def true_clusters(
    raw: pa.Table, record_ids: list[str], cluster_col: str | None, cluster_regex: str | None
) -> list[str]:
    """The true cluster of every record: the cluster column's value, or the first
    group of ``cluster_regex`` in the record id (FEBRL: rec-12-org and rec-12-dup-0
    -> '12'); a record without one is its own cluster."""
    if cluster_col is not None:
        if cluster_col not in raw.column_names:
            raise PersonFileError(f"no cluster column {cluster_col!r}")
        return [
            str(v) if v is not None else f"~alone|{rid}"
            for v, rid in zip(raw[cluster_col].to_pylist(), record_ids, strict=True)
        ]
    pattern = re.compile(str(cluster_regex))
    found = [pattern.search(rid) for rid in record_ids]
    return [
        m.group(1) if m and m.groups() else (m.group(0) if m else rid)
        for m, rid in zip(found, record_ids, strict=True)
    ]


def _labels(values: list[object]) -> np.ndarray:
    return np.unique(np.array([str(v) for v in values]), return_inverse=True)[1].ravel()


def evaluate_person_file(
    path: str | Path,
    *,
    nicknames: pa.Table,
    id_col: str,
    cluster_col: str | None = None,
    cluster_regex: str | None = None,
    threshold: float = DEFAULT_FILE_THRESHOLD,
    model_path: str | Path | None = None,
    id_columns: tuple[str, ...] | None = None,
    training: TrainingOptions | None = None,
) -> FileEvaluation:
    """Re-train on the file (unless ``model_path`` is given), score, cluster, measure.

    The true clusters come from ``cluster_col``, or from the id column through
    ``cluster_regex`` (its first group, e.g. ``rec-(\\d+)-`` for FEBRL ids).
    ``id_columns``: extra identifier columns to compare (default: the known ones
    present in the file, such as FEBRL's soc_sec_id). A given ``model_path``
    must have been trained with the same ones. ``nicknames``: the nickname
    lookup (:func:`identity.fuzzy.read_nicknames` of the dbt seed).
    """
    # Splink only here: reading and loading a file for the warehouse path
    # (`ferry fuzzy evaluate-file`) needs none of it
    from identity.fuzzy.scoring import ScoringOptions, score_pairs
    from identity.fuzzy.training import TrainingOptions, train_model

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    raw = read_person_file(path)
    if cluster_col is not None and cluster_col not in raw.column_names:
        raise PersonFileError(f"no cluster column {cluster_col!r}")
    if (cluster_col is None) == (cluster_regex is None):
        raise PersonFileError("give either a cluster column or a cluster regex")
    records = to_person_records(raw, id_col)
    ids = (
        tuple(c for c in KNOWN_ID_COLUMNS if c in records.column_names)
        if id_columns is None
        else id_columns
    )
    with tempfile.TemporaryDirectory(prefix="ferry-fuzzy-file-") as tmp:
        if model_path is None:
            trained = train_model(
                records,
                nicknames,
                output_path=Path(tmp) / "splink_model.json",
                options=training or TrainingOptions(notes={"data": str(path)}),
                extra_ids=ids,
                broad_blocking=True,
            )
            model_path = trained.model_path
            if training is None:
                _rescale_prior(
                    Path(model_path),
                    (training or TrainingOptions()).prior_recall,
                    has_email="email" in records.column_names,
                )
        pairs = score_pairs(
            records,
            nicknames,
            # the model was just trained on this very file, its prior rescaled
            ScoringOptions(
                model_path=str(model_path),
                min_probability=min(0.5, threshold),
                reestimate_on_data=False,
            ),
            extra_ids=ids,
        )
    record_ids = [str(v) for v in records["source_record_id"].to_pylist()]
    index = {rid: i for i, rid in enumerate(record_ids)}
    truth = _labels(true_clusters(raw, record_ids, cluster_col, cluster_regex))
    prob = pairs["match_probability"].to_numpy(zero_copy_only=False)
    linked = prob >= threshold
    a = np.array([index[r] for r in pairs["source_record_id_a"].to_pylist()], dtype=np.int64)
    b = np.array([index[r] for r in pairs["source_record_id_b"].to_pylist()], dtype=np.int64)
    clusters = connected_components(len(record_ids), a[linked], b[linked])
    counts = pair_counts(truth, clusters)
    same = truth[a[linked]] == truth[b[linked]]
    link_tp = int(same.sum())
    link_p = link_tp / int(linked.sum()) if linked.any() else 1.0
    link_r = link_tp / counts.true_pairs if counts.true_pairs else 1.0
    return FileEvaluation(
        records=len(record_ids),
        true_pairs=counts.true_pairs,
        scored_pairs=len(prob),
        links=int(linked.sum()),
        predicted_pairs=counts.predicted_pairs,
        correct_pairs=counts.correct_pairs,
        precision=round(counts.precision, 6),
        recall=round(counts.recall, 6),
        f1=round(counts.f1, 6),
        link_precision=round(link_p, 6),
        link_recall=round(link_r, 6),
        link_f1=round(2 * link_p * link_r / (link_p + link_r), 6) if link_p + link_r else 0.0,
        threshold=threshold,
        id_columns=list(ids),
        model_version=pairs["model_version"][0].as_py() if pairs.num_rows else "",
    )
