"""profile_id stability across runs: same input -> same ids, unrelated appends change
no id, merges keep a deterministic survivor and are recorded (chains re-pointed).
The builds run in order on one warehouse, like successive scheduled runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests import prebuild
from tests.identity.harness import (
    Inputs,
    dbt_build,
    make_project,
    query,
    write_inputs,
)


def node(source: str, record_id: str) -> str:
    return "0" + hashlib.md5(f"{source}|{record_id}".encode()).hexdigest()


def fresh_profile_id(anchor_node: str) -> str:
    return hashlib.md5(f"profile|{anchor_node}".encode()).hexdigest()


def base_inputs() -> Inputs:
    inp = Inputs()
    for i in range(40):  # 40 people, each in shop and crm sharing an email, plus a web visit
        inp.record("shop", f"s{i}", customer_id=f"shop:{i + 1}", email=f"person{i}@stable.org")
        inp.record(
            "crm",
            f"c{i}",
            customer_id=f"crm:{i + 1}",
            email=f"person{i}@stable.org",
            phone=f"+336123400{i:02d}",
        )
        inp.record("web", f"w{i}", anonymous_id=f"anon-{i}", phone=f"+336123400{i:02d}")
    # three people who will merge later (different systems, nothing shared yet)
    inp.record("shop", "m1", customer_id="shop:m1", email="m1@merge.org")
    inp.record("crm", "m2", customer_id="crm:m2", email="m2@merge.org")
    inp.record("support", "m3", customer_id="support:m3", email="m3@merge.org")
    return inp


def assignments(db: Path) -> dict[tuple[str, str], str]:
    rows = query(
        db, "select distinct source, source_record_id, profile_id from marts.customer_identifiers"
    )
    return {(s, r): p for s, r, p in rows}


@prebuild.job("runs")
def _successive_runs(work: Path) -> dict[str, object]:
    """Five successive runs on one warehouse and project copy (in the background when the
    session starts); the state after each is kept for the tests. The last is a full
    `dbt build` (data and unit tests included); the others only run the models the ids
    depend on, to keep the suite fast."""
    project, db = make_project(work), work / "warehouse.duckdb"

    def run_ids() -> None:
        dbt_build(
            project, db, "--select", "+customer_identifiers", "+profile_id_aliases", command="run"
        )

    out: dict[str, object] = {}
    inp = base_inputs()
    write_inputs(db, inp)
    run_ids()
    out["first"] = assignments(db)
    run_ids()
    out["second"] = assignments(db)
    # unrelated records appended (new people, and a record with an unseen smaller key)
    for i in range(10):
        inp.record("newsletter", f"n{i}", email=f"newcomer{i}@stable.org")
    inp.record("shop", "a-unrelated", customer_id="shop:zzz", email="zzz@stable.org")
    write_inputs(db, inp)
    run_ids()
    out["appended"] = assignments(db)
    # a newsletter sign-up carrying m1's and m2's emails merges them
    inp.record("newsletter", "bridge12", email=["m1@merge.org", "m2@merge.org"])
    write_inputs(db, inp)
    run_ids()
    out["merged"] = assignments(db)
    out["aliases_after_merge"] = query(
        db, "select old_profile_id, profile_id from marts.profile_id_aliases"
    )
    # then m3 joins them: the earlier alias must be re-pointed to the final survivor
    inp.record("newsletter", "bridge23", email=["m2@merge.org", "m3@merge.org"])
    write_inputs(db, inp)
    dbt_build(project, db)
    out["merged_again"] = assignments(db)
    out["aliases_final"] = dict(
        query(db, "select old_profile_id, profile_id from marts.profile_id_aliases")
    )
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return prebuild.result("runs", tmp_path_factory)


def test_same_input_gives_same_ids(runs: dict) -> None:
    assert runs["first"] == runs["second"]
    assert len(set(runs["first"].values())) == 40 + 3


def test_ids_derive_from_the_smallest_record_of_the_profile(runs: dict) -> None:
    first = runs["first"]
    for i in (0, 7, 39):
        members = [("shop", f"s{i}"), ("crm", f"c{i}"), ("web", f"w{i}")]
        assert {first[m] for m in members} == {fresh_profile_id(min(node(*m) for m in members))}


def test_appending_unrelated_records_changes_no_existing_id(runs: dict) -> None:
    first, appended = runs["first"], runs["appended"]
    assert {k: appended[k] for k in first} == first
    new_ids = {appended[k] for k in appended if k not in first}
    assert len(new_ids) == 11 and not new_ids & set(first.values())


def test_merge_keeps_deterministic_survivor_and_records_alias(runs: dict) -> None:
    before, after = runs["appended"], runs["merged"]
    m1, m2 = before[("shop", "m1")], before[("crm", "m2")]
    # survivor: the id whose smallest record is smallest
    survivor, retired = (m1, m2) if node("shop", "m1") < node("crm", "m2") else (m2, m1)
    assert (
        after[("shop", "m1")]
        == after[("crm", "m2")]
        == after[("newsletter", "bridge12")]
        == survivor
    )
    assert runs["aliases_after_merge"] == [(retired, survivor)]
    # nobody else moved
    assert {k: v for k, v in after.items() if k in before and v != before[k]} == {
        k: survivor for k in before if before[k] == retired
    }


def test_chained_merges_repoint_earlier_aliases(runs: dict) -> None:
    before, after = runs["merged"], runs["merged_again"]
    final = after[("support", "m3")]
    assert after[("shop", "m1")] == after[("crm", "m2")] == final
    aliases = runs["aliases_final"]
    retired = {
        runs["appended"][("shop", "m1")],
        runs["appended"][("crm", "m2")],
        before[("support", "m3")],
    } - {final}
    assert aliases == {old: final for old in retired}
    assert final not in aliases
