"""Erasure on the core marts: an erasure request leaves a tombstone in erased_profiles
and no row of the erased person in customer_profiles, customer_identifiers or
customer_events, while everyone else stays. Built with the real erased_profiles model
(the other identity tests stub it empty)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import prebuild
from tests.identity.harness import (
    dbt_build,
    make_erasure_project,
    query,
    write_inputs,
)
from tests.identity.scenarios import ERASED_EMAIL, KEPT_EMAIL, erasure_scenario

CORE_MARTS = ("customer_profiles", "customer_identifiers", "customer_events")


@prebuild.job("erasure_db")
def _build_erasure(work: Path) -> Path:
    """The erasure scenario built (in the background when the session starts)."""
    project = make_erasure_project(work)
    db = work / "warehouse.duckdb"
    write_inputs(db, erasure_scenario())
    dbt_build(project, db)
    return db


@pytest.fixture(scope="module")
def erasure_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prebuild.result("erasure_db", tmp_path_factory)


def resolved_profile(db: Path, source: str, record_id: str) -> str:
    """The profile id identity gave a record, read upstream of the marts' erasure filter."""
    rows = query(
        db,
        "select distinct profile_id from intermediate.int_profile_ids_resolved"
        f" where source = '{source}' and source_record_id = '{record_id}'",
    )
    assert len(rows) == 1, rows
    return rows[0][0]


def test_erasure_request_leaves_one_tombstone(erasure_db: Path) -> None:
    gone = resolved_profile(erasure_db, "ecrm", "gone")
    # one person across CRM and shop; the request came from a third source, linked by email only
    assert resolved_profile(erasure_db, "eshop", "gone") == gone
    assert resolved_profile(erasure_db, "econsent", "req1") == gone
    assert query(erasure_db, "select profile_id from marts.erased_profiles") == [(gone,)]


@pytest.mark.parametrize("mart", CORE_MARTS)
def test_erased_person_has_no_row_in_core_mart(erasure_db: Path, mart: str) -> None:
    gone = resolved_profile(erasure_db, "ecrm", "gone")
    kept = resolved_profile(erasure_db, "ecrm", "kept")
    assert gone != kept
    counts = dict(query(erasure_db, f"select profile_id, count(*) from marts.{mart} group by 1"))
    assert counts.get(gone, 0) == 0
    assert counts.get(kept, 0) > 0  # the filter removes the erased person only


def test_erased_person_leaves_no_pii_behind(erasure_db: Path) -> None:
    """Not by profile id only: no record, email or event of the person is left anywhere."""
    identifiers = query(
        erasure_db,
        "select source, source_record_id, identifier_value from marts.customer_identifiers",
    )
    assert not [r for r in identifiers if r[1] in ("gone", "req1")]
    assert not [r for r in identifiers if str(r[2]).lower() == ERASED_EMAIL]
    assert any(str(r[2]).lower() == KEPT_EMAIL for r in identifiers)
    emails = [r[0] for r in query(erasure_db, "select email from marts.customer_profiles")]
    assert ERASED_EMAIL not in emails and KEPT_EMAIL in emails
    events = [r[0] for r in query(erasure_db, "select event_id from marts.customer_events")]
    assert not [e for e in events if "gone" in e]
    assert any("kept" in e for e in events)
