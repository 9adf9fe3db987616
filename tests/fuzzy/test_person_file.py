"""A person file of one's own (FEBRL-style columns): EM on the file, scoring,
clustering and pairwise metrics against its cluster column, end to end."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from identity.fuzzy import read_nicknames
from identity.fuzzy.person_file import (
    PersonFileError,
    evaluate_person_file,
    read_person_file,
    to_person_records,
)
from orchestration.paths import FUZZY_NICKNAMES_PATH
from sample_data.person_file import (
    FEBRL_FILE_COLUMNS,
    person_file_table,
    write_person_file,
)

NICKNAMES = read_nicknames(FUZZY_NICKNAMES_PATH)


@pytest.fixture(scope="module")
def febrl_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("person_file") / "records.csv"
    return write_person_file(path, originals=600, duplicates=600, seed=5)


def test_generated_file_has_febrl_columns_and_corrupted_duplicates() -> None:
    table = person_file_table(originals=50, duplicates=80, seed=1)
    assert tuple(table.column_names) == (*FEBRL_FILE_COLUMNS, "cluster_id")
    rows = table.to_pylist()
    originals = {r["cluster_id"]: r for r in rows if r["rec_id"].endswith("-org")}
    dups = [r for r in rows if "-dup-" in r["rec_id"]]
    assert len(originals) == 50 and dups
    fields = ("given_name", "surname", "address_1", "postcode", "date_of_birth", "soc_sec_id")
    # every duplicate differs from its original somewhere
    assert all(
        any(
            d[f] != originals[d["cluster_id"]][f]
            for f in fields + ("street_number", "suburb", "address_2")
        )
        for d in dups
    )
    assert person_file_table(originals=50, duplicates=80, seed=1).equals(table)


def test_febrl_columns_map_to_the_person_contract() -> None:
    table = pa.table(
        {
            "rec_id": ["a", "b"],
            "given_name": [" bob ", "ann"],
            "surname": ["smith", None],
            "street_number": ["12", None],
            "address_1": ["george st", None],
            "suburb": ["bondi", "x"],
            "postcode": ["2026", None],
            "date_of_birth": ["19850230", None],
            "soc_sec_id": ["123", None],
        }
    )
    records = to_person_records(table, "rec_id").to_pylist()
    assert records[0] == {
        "source": "file",
        "source_record_id": "a",
        "first_name": "bob",
        "last_name": "smith",
        "birth_date": "19850230",
        "city": "bondi",
        "postcode": "2026",
        "street": "12 george st",
        "soc_sec_id": "123",
    }
    assert records[1]["street"] is None
    with pytest.raises(PersonFileError, match="given_name"):
        to_person_records(table.drop(["given_name"]), "rec_id")
    with pytest.raises(PersonFileError, match="id column"):
        to_person_records(table, "nope")


def test_matcher_finds_the_duplicates_of_a_person_file(febrl_like: Path) -> None:
    r = evaluate_person_file(febrl_like, nicknames=NICKNAMES, id_col="rec_id", cluster_col="cluster_id", threshold=0.99)
    print(r.as_dict())
    assert r.records > 1000
    assert r.true_pairs > 500
    assert r.id_columns == ["soc_sec_id"]
    assert r.precision >= 0.99, r
    assert r.recall >= 0.9, r
    assert r.f1 >= 0.95, r
    # without the social security number, names, birth dates and addresses alone
    alone = evaluate_person_file(
        febrl_like, nicknames=NICKNAMES, id_col="rec_id", cluster_col="cluster_id", threshold=0.99, id_columns=()
    )
    assert alone.id_columns == []
    assert alone.precision >= 0.98, alone
    assert alone.recall >= 0.8, alone


def test_evaluate_file_only_command(febrl_like: Path, tmp_path: Path, capsys) -> None:
    from orchestration.commands import fuzzy as command

    out = tmp_path / "metrics.json"
    args = argparse.Namespace(
        path=febrl_like,
        id_col="rec_id",
        cluster_col="cluster_id",
        cluster_regex=None,
        threshold=0.99,
        model=None,
        id_columns=None,
        output=out,
        file_only=True,
    )
    assert command.run_evaluate_file(args) == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "f1" in printed
    assert json.loads(out.read_text())["f1"] >= 0.95
    bad = tmp_path / "bad.csv"
    pacsv.write_csv(pa.table({"rec_id": ["1"], "name": ["x"], "cluster_id": ["1"]}), bad)
    assert command.run_evaluate_file(argparse.Namespace(**{**vars(args), "path": bad})) == 1


def test_febrl_layout_without_a_cluster_column(tmp_path: Path) -> None:
    """FEBRL's own CSVs: ', ' after every comma, postcodes with leading zeros, and
    the cluster only in the record id (rec-12-org, rec-12-dup-0)."""
    table = person_file_table(originals=150, duplicates=150, seed=9)
    rows = table.to_pylist()
    lines = [", ".join(FEBRL_FILE_COLUMNS)]
    lines += [", ".join(r[c] or "" for c in FEBRL_FILE_COLUMNS) for r in rows]
    path = tmp_path / "febrl.csv"
    path.write_text("\n".join(lines) + "\n")
    sizes = Counter(r["cluster_id"] for r in rows).values()
    r = evaluate_person_file(path, nicknames=NICKNAMES, id_col="rec_id", cluster_regex=r"rec-(\d+)-")
    assert r.true_pairs == sum(n * (n - 1) // 2 for n in sizes)
    assert r.f1 >= 0.95, r
    records = read_person_file(path)
    assert records.column_names[1] == "given_name"
    darwin = [p for p in records["postcode"].to_pylist() if p and p.startswith("0")]
    assert darwin  # '0800' stays text with its leading zero
    with pytest.raises(PersonFileError, match="either"):
        evaluate_person_file(path, nicknames=NICKNAMES, id_col="rec_id")


def test_prior_rules_recall_is_read_off_the_m_probabilities() -> None:
    from identity.fuzzy.person_file import rule_recall_from_m

    def comparison(name: str, levels: dict[str, float]) -> dict:
        return {
            "output_column_name": name,
            "comparison_levels": [
                {"label_for_charts": k, "m_probability": v} for k, v in levels.items()
            ],
        }

    settings = {
        "comparisons": [
            comparison(
                "name",
                {
                    "first and last name exact (either order)": 0.6,
                    "last name exact, first name typo": 0.2,
                    "All other comparisons": 0.2,
                },
            ),
            comparison("birth_date", {"Exact match on birth_date": 0.5}),
            comparison("email", {"Exact match on email": 0.9}),
            comparison("xid_ssn", {"Exact match on xid_ssn": 0.5}),
        ]
    }
    # name and birth date exact: 0.3; ssn with last name exact: 0.5 * 0.8 = 0.4
    assert rule_recall_from_m(settings, has_email=False) == pytest.approx(1 - 0.7 * 0.6)
    # e-mail too: 1 - 0.7 * 0.6 * 0.1 = 0.958, capped: never "the rules find all"
    assert rule_recall_from_m(settings, has_email=True) == 0.95


def test_bad_values_are_read_not_crashed_on_and_a_non_utf8_file_is_named(
    febrl_like: Path, tmp_path: Path
) -> None:
    """Impossible birth dates (20241341) and empty names are records like any other:
    no crash, none dropped; a Latin-1 file is refused with its line."""
    table = read_person_file(febrl_like)
    rows = table.to_pylist()
    rows[0]["date_of_birth"], rows[1]["date_of_birth"] = "20241341", "1990-13-45"
    rows[2]["given_name"] = rows[2]["surname"] = None
    rows[3]["given_name"] = None
    bad = tmp_path / "bad_values.csv"
    pacsv.write_csv(pa.Table.from_pylist(rows, schema=table.schema), bad)
    r = evaluate_person_file(
        bad, nicknames=NICKNAMES, id_col="rec_id", cluster_col="cluster_id", threshold=0.99
    )
    assert r.records == len(rows)
    assert r.precision >= 0.99 and r.recall >= 0.9, r

    latin1 = tmp_path / "latin1.csv"
    text = febrl_like.read_text(encoding="utf-8").splitlines()
    latin1.write_bytes("\n".join([*text[:3], text[3] + ",Ren\u00e9", *text[4:]]).encode("latin-1"))
    with pytest.raises(PersonFileError, match=r"latin1\.csv: line 4: byte 0xe9 is not UTF-8"):
        read_person_file(latin1)
