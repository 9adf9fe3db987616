"""`ferry fuzzy evaluate-file` is the warehouse's figure: the same clusters as a build.

One small person file (FEBRL-style duplicates: typos, nicknames, swapped names,
missing values) is written as a CRM export; it is loaded with `ferry load
crm_contacts` into a warehouse and built with dbt, and it is given to
`evaluate-file`. Both must put the records into the same profiles, and the
figure evaluate-file prints is the pairwise score of those profiles.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from identity.evaluation import pair_counts
from identity.fuzzy.person_file import PersonFileError
from orchestration.person_file_build import crm_contacts_from_file, parse_birth_date
from orchestration.sources.loader import load_file
from orchestration.sources.registry import load_registry
from sample_data.person_file import person_file_table
from tests import prebuild
from tests.data.conftest import WAREHOUSE, run_dbt

EMPTY_CRM_COLUMNS = (
    "email", "phone", "company", "job_title", "country", "owner_name", "owner_email",
    "lead_source", "lifecycle_stage", "competitor_name", "competitor_contract_end_date", "notes",
)  # fmt: skip


def _crm_export(path: Path) -> Path:
    """The generated person file as a CRM export: CRM column names, ISO birth dates
    (an impossible one left empty, as `ferry load` would refuse it), the true
    person in an extra column."""
    rows = person_file_table(originals=120, duplicates=130, seed=11).to_pylist()
    out = []
    for r in rows:
        birth, _ = parse_birth_date(r["date_of_birth"])
        street = " ".join(p for p in (r["street_number"], r["address_1"]) if p) or None
        out.append(
            {
                "contact_id": r["rec_id"],
                "first_name": r["given_name"],
                "last_name": r["surname"],
                "birth_date": birth.isoformat() if birth else None,
                "street": street,
                "city": r["suburb"],
                "postcode": r["postcode"],
                "created_at": "2000-01-01 00:00:00",
                "updated_at": "2000-01-01 00:00:00",
                "cluster_id": r["cluster_id"],
                # the rest of the CRM contract, empty in this export
                **dict.fromkeys(EMPTY_CRM_COLUMNS),
            }
        )
    pacsv.write_csv(pa.Table.from_pylist(out), path)
    return path


@prebuild.job("crm_export_build")
def build_crm_export(work: Path) -> tuple[Path, Path]:
    """The export loaded with `ferry load crm_contacts` and built with dbt."""
    export = _crm_export(work / "crm_export.csv")
    database = work / WAREHOUSE
    load_file(load_registry()["crm_contacts"], export, database)
    done = run_dbt(
        ["build", "--select", "+customer_identifiers", "--exclude", "resource_type:test",
         "test_type:unit"],
        database, work,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return export, database


@pytest.fixture(scope="module")
def crm_export_build(tmp_path_factory) -> tuple[Path, Path]:
    return prebuild.result("crm_export_build", tmp_path_factory)


def _partition(pairs: list[tuple[str, str]]) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for record, profile in pairs:
        groups.setdefault(profile, set()).add(record)
    return {frozenset(g) for g in groups.values()}


def test_evaluate_file_gives_the_clusters_of_a_warehouse_build(
    crm_export_build: tuple[Path, Path], tmp_path: Path, capsys
) -> None:
    from orchestration.commands import fuzzy as command

    export, database = crm_export_build
    with duckdb.connect(str(database), read_only=True) as con:
        built = con.execute(
            "select cast(source_record_id as varchar), min(profile_id) "
            "from marts.customer_identifiers where source = 'crm_contacts' group by 1"
        ).fetchall()
    clusters, metrics = tmp_path / "clusters.csv", tmp_path / "metrics.json"
    args = argparse.Namespace(
        path=export, id_col="contact_id", cluster_col="cluster_id", cluster_regex=None,
        keep_warehouse=None, clusters=clusters, file_only=False, threshold=None, model=None,
        id_columns=None, output=metrics,
    )  # fmt: skip
    assert command.run_evaluate_file(args) == 0
    printed = capsys.readouterr().out
    evaluated = [tuple(r.values()) for r in pacsv.read_csv(clusters).to_pylist()]

    assert len(built) == len(evaluated) == 250
    # the model merged duplicates (not only singletons on both sides)
    assert len(_partition(built)) < 200
    assert _partition([(str(a), str(b)) for a, b in evaluated]) == _partition(built)

    # the printed figure is the pairwise score of the warehouse's profiles
    truth = {r["contact_id"]: r["cluster_id"] for r in pacsv.read_csv(export).to_pylist()}
    records = sorted(truth)
    profile = dict(built)
    labels = {v: i for i, v in enumerate(sorted(set(map(str, truth.values()))))}
    profiles = {v: i for i, v in enumerate(sorted(set(profile.values())))}
    expected = pair_counts(
        np.array([labels[str(truth[r])] for r in records]),
        np.array([profiles[profile[r]] for r in records]),
    )
    result = json.loads(metrics.read_text())
    assert result["true_pairs"] == expected.true_pairs
    assert result["correct_pairs"] == expected.correct_pairs
    assert result["precision"] == pytest.approx(expected.precision, abs=1e-6)
    assert result["recall"] == pytest.approx(expected.recall, abs=1e-6)
    assert f"recall {expected.recall:.4f}" in printed
    assert result["fuzzy_merges"] > 0


def test_file_only_options_need_file_only(tmp_path: Path, capsys) -> None:
    from orchestration.commands import fuzzy as command

    args = argparse.Namespace(
        path=tmp_path / "x.csv", id_col="id", cluster_col="c", cluster_regex=None,
        keep_warehouse=None, clusters=None, file_only=False, threshold=0.9, model=None,
        id_columns=None, output=None,
    )  # fmt: skip
    assert command.run_evaluate_file(args) == 1
    assert "--threshold only apply with --file-only" in capsys.readouterr().out


def test_bad_rows_of_a_person_file_are_named_or_flagged(tmp_path: Path) -> None:
    """An impossible birth date loads the row without it and names the row; a
    repeated or empty record id stops with both rows; a missing name column stops."""
    path = tmp_path / "people.csv"
    rows = [
        {"id": "a", "first_name": "Ann", "last_name": "Lee", "birth_date": "20241341", "c": "1"},
        {"id": "b", "first_name": "Ann", "last_name": "Lee", "birth_date": "1985-02-30", "c": "1"},
        {"id": "c", "first_name": "", "last_name": "", "birth_date": "19850212", "c": "2"},
    ]
    pacsv.write_csv(pa.Table.from_pylist(rows), path)
    contacts, truth, flagged, _ = crm_contacts_from_file(path, "id", "c", None)
    assert contacts.num_rows == truth.num_rows == 3  # nothing dropped
    assert flagged == {"impossible_birth_date": [1, 2]}
    assert contacts["birth_date"].to_pylist()[2].isoformat() == "1985-02-12"
    assert contacts["first_name"].to_pylist()[2] is None  # flagged no_name by the quarantine

    pacsv.write_csv(pa.Table.from_pylist([*rows, {**rows[0], "birth_date": None}]), path)
    with pytest.raises(PersonFileError, match=r"rows 1 and 4: the same id 'a'"):
        crm_contacts_from_file(path, "id", "c", None)
    pacsv.write_csv(pa.Table.from_pylist([{k: v for k, v in r.items() if k != "last_name"}
                                          for r in rows]), path)  # fmt: skip
    with pytest.raises(PersonFileError, match="last_name"):
        crm_contacts_from_file(path, "id", "c", None)
