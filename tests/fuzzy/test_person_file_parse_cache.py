"""A person-file build reuses dbt's parse of the previous one.

Parsing the project is a third of `ferry fuzzy evaluate-file` on a 20k-record
file; `orchestration.person_file_build.dbt_build` keeps dbt's partial-parse state
between runs. dbt only takes it when the profile is the same, so two builds in
two scratch folders must still look alike to dbt (same database file name, read
from the build's folder). Checked on dbt's own log: the second build says it
parsed partially, and it built the model into its own warehouse.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.person_file_build import crm_contacts_from_file, dbt_build, write_raw

PERSON_FILE = "rec_id,given_name,surname,date_of_birth,cluster\nr1,Anna,Roux,19800101,p1\n" \
    "r2,Ana,Roux,19800101,p1\nr3,Jean,Martin,19750505,p2\n"  # fmt: skip


def _build(work: Path, cache: Path) -> str:
    """One scratch warehouse holding the file, its staging model built; dbt's log."""
    source = work / "people.csv"
    source.write_text(PERSON_FILE)
    contacts, truth, _, _ = crm_contacts_from_file(source, "rec_id", "cluster", None)
    database = work / "person_file.duckdb"
    write_raw(database, contacts, truth)
    dbt_build(database, work, ("stg_crm__contacts",), parse_cache=cache, file_log=True)
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from staging.stg_crm__contacts").fetchone()[0] == 3
    return (work / "logs" / "dbt.log").read_text()


def test_a_second_person_file_build_parses_partially(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()

    _build(first, cache)
    assert (cache / "person_file.partial_parse.msgpack").is_file()

    log = _build(second, cache)
    assert "Partial parsing enabled" in log
    assert "Unable to do partial parsing" not in log
