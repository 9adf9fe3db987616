"""Raw contracts from the source registry: `ferry load` checks a file before writing
it, `ferry sources check` names every missing or mistyped column of the warehouse,
and docs/sources.md is what the registry says."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.cli import main
from orchestration.sources import docs
from orchestration.sources.loader import LoadError, load_file
from orchestration.sources.registry import load_registry

CRM_ROWS = [
    {"contact_id": "c1", "first_name": "Ana", "last_name": "Lopez", "email": " Ana@Mail.com ",
     "phone": "06 12 34 56 78", "birth_date": "1990-02-03", "created_at": "2026-03-01T10:00:00+01:00",
     "updated_at": "2026-03-02 09:00:00"},
    {"contact_id": "c2", "first_name": "Bo", "last_name": "Chen", "email": "bo@mail.com",
     "birth_date": "", "created_at": "2026-03-01", "updated_at": "2026-03-02"},
]  # fmt: skip


def _crm_csv(path: Path, rows: list[dict], drop: tuple[str, ...] = ()) -> Path:
    columns = [c for c in load_registry()["crm_contacts"].columns if c not in drop]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def test_docs_are_generated_from_the_registry():
    assert docs.DOCS_PATH.read_text(encoding="utf-8") == docs.render(), "run `ferry sources docs`"
    text = docs.render()
    for name, source in load_registry().items():
        assert f"## {name}" in text
        for column in source.columns:
            assert f"| `{column}` |" in text


def test_load_csv_types_the_contract_columns_and_stamps_loader_columns(tmp_path):
    db = tmp_path / "w.duckdb"
    result = load_file(
        load_registry()["crm_contacts"], _crm_csv(tmp_path / "crm.csv", CRM_ROWS), db
    )
    assert result.relation == "raw.crm_contacts" and result.rows == 2
    with duckdb.connect(str(db), read_only=True) as con:
        types = dict(con.execute(
            "select column_name, data_type from information_schema.columns where table_name = 'crm_contacts'"
        ).fetchall())  # fmt: skip
        rows = con.execute(
            "select contact_id, birth_date, created_at, _loader_id from raw.crm_contacts order by 1"
        ).fetchall()
    assert types["birth_date"] == "DATE" and types["created_at"] == "TIMESTAMP"
    assert types["_loaded_at"] == "TIMESTAMP"
    # an offset is converted to UTC; an empty cell is null; loader id = file:row
    assert str(rows[0][2]) == "2026-03-01 09:00:00" and rows[1][1] is None
    assert [r[3] for r in rows] == ["crm.csv:1", "crm.csv:2"]


def test_load_refuses_a_file_missing_a_column_and_writes_nothing(tmp_path):
    db = tmp_path / "w.duckdb"
    bad = _crm_csv(tmp_path / "crm.csv", CRM_ROWS, drop=("email", "updated_at"))
    with pytest.raises(
        LoadError, match=r"crm\.csv: missing column\(s\) email \(text\), updated_at \(timestamp\)"
    ):
        load_file(load_registry()["crm_contacts"], bad, db)
    with duckdb.connect(str(db)) as con:
        assert (
            con.execute(
                "select count(*) from duckdb_tables() where table_name = 'crm_contacts'"
            ).fetchone()[0]
            == 0
        )


def test_load_names_the_row_and_column_of_a_bad_value(tmp_path, capsys):
    rows = [*CRM_ROWS, {**CRM_ROWS[1], "contact_id": "c3", "birth_date": "20241341"}]
    path = _crm_csv(tmp_path / "crm.csv", rows)
    code = main(["load", "crm_contacts", str(path), "--duckdb", str(tmp_path / "w.duckdb")])
    assert code == 2
    assert "crm.csv: row 3, column birth_date: '20241341' is not a date" in capsys.readouterr().err


def test_load_parquet_and_unknown_sources(tmp_path, capsys):
    parquet = tmp_path / "orders.parquet"
    with duckdb.connect() as con:
        con.execute(
            f"copy (select 'o1' as order_id, 42 as customer_id, 'a@b.fr' as email, "
            f"timestamp '2026-01-01 10:00:00' as ordered_at, 'paid' as status, 'web' as channel, "
            f"'s1' as store_id, 'EUR' as currency, 12.5 as total_amount, 'x' as note) to '{parquet}'"
        )
    db = tmp_path / "w.duckdb"
    assert main(["load", "shop_orders", str(parquet), "--duckdb", str(db)]) == 0
    assert "kept columns outside the contract: note" in capsys.readouterr().out
    assert main(["load", "shop_ordres", str(parquet), "--duckdb", str(db)]) == 2
    assert "unknown source 'shop_ordres'; sources: crm_contacts" in capsys.readouterr().err


def test_sources_check_names_every_missing_or_mistyped_column(tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    assert (
        main(
            [
                "load",
                "crm_contacts",
                str(_crm_csv(tmp_path / "crm.csv", CRM_ROWS)),
                "--duckdb",
                str(db),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["sources", "check", "--duckdb", str(db)]) == 0
    out = capsys.readouterr().out
    assert "ok      crm_contacts: raw.crm_contacts matches its contract" in out
    assert "absent  shop_orders: raw.shop_orders not found" in out
    # each system's customer-id semantics (issue 16's guards read the same macro)
    assert "customer id kinds: crm record_id, shop account_id, support account_id" in out
    with duckdb.connect(str(db)) as con:
        con.execute("alter table raw.crm_contacts drop column email")
        con.execute("alter table raw.crm_contacts alter birth_date type varchar")
    assert main(["sources", "check", "--duckdb", str(db)]) == 1
    out = capsys.readouterr().out
    assert "source crm_contacts: raw.crm_contacts: missing column email (text)" in out
    assert (
        "source crm_contacts: raw.crm_contacts: column birth_date is VARCHAR, expected date" in out
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"columns": {"member_id": "txt"}},
            "ferry_sources.loyalty.columns: Value error, column 'member_id': type 'txt'",
        ),
        ({"person": ["points"]}, "ferry_sources.loyalty.person: unknown attribute 'points'"),
        ({"events": {"types": ["a", "b"]}}, "ferry_sources.loyalty.events.type: required"),
        (
            {"identifiers": [{"type": "customer_id", "column": "m", "kind": "person"}]},
            "identifiers.0.kind",
        ),
        ({"relation": "loyalty"}, "ferry_sources.loyalty.relation: expected 'schema.table'"),
    ],
)
def test_registry_errors_name_the_file_and_key(tmp_path, change, words):
    from orchestration.sources.registry import RegistryError

    entry = {"relation": "raw.loyalty", "record_id": "member_id", "record_time": "joined_at",
             "columns": {"member_id": "text"}, **change}  # fmt: skip
    project = tmp_path / "proj"
    project.mkdir()
    variables = {
        "ferry_person_attributes": {"first_name": "text"},
        "ferry_sources": {"loyalty": entry},
    }
    (project / "dbt_project.yml").write_text(yaml.safe_dump({"vars": variables}))
    with pytest.raises(RegistryError) as error:
        load_registry(project)
    assert str(project / "dbt_project.yml") in str(error.value) and words in str(error.value)
