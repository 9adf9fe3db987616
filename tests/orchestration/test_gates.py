"""The audience gate (Great Expectations) on hand-made tables: each rule fails when it should."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from dagster import AssetKey

from orchestration.assets.catalog import Audience, AudienceChecksConfig
from orchestration.checks.audiences import evaluate_audience


@pytest.fixture
def conn(tmp_path):
    c = duckdb.connect(str(tmp_path / "gate.duckdb"))
    c.execute("create schema audiences; create schema marts")
    c.execute(
        "create table marts.customer_consent (profile_id varchar, channel varchar, is_consented boolean)"
    )
    c.execute(
        "insert into marts.customer_consent values "
        "('p1','email',true),('p2','email',true),('p3','email',false),('p4','sms',true)"
    )
    c.execute("create table audiences.aud_t (profile_id varchar, variant varchar, email varchar)")
    yield c
    c.close()


def _audience(channel: str = "email", share: float = 0.5, min_rows: int = 0) -> Audience:
    return Audience(
        name="aud_t",
        description="",
        asset_key=AssetKey(["audiences", "aud_t"]),
        schema_name="audiences",
        table="aud_t",
        key="profile_id",
        channel=channel,
        checks=AudienceChecksConfig(max_size_change=share, min_change_rows=min_rows),
    )


def _outcomes(conn, audience, previous=None) -> dict[str, bool]:
    gate = evaluate_audience(conn, audience, previous)
    return {o.name: o.passed for o in gate.outcomes}


def test_clean_audience_passes(conn):
    conn.execute(
        "insert into audiences.aud_t values ('p1','treatment','a@x.io'),('p2','holdout','b@x.io')"
    )
    gate = evaluate_audience(conn, _audience(), previous_size=2)
    assert gate.passed and gate.size == 2, gate.reasons


def test_duplicate_and_null_keys_fail(conn):
    conn.execute("insert into audiences.aud_t values ('p1','t','a@x.io'),('p1','t','a@x.io')")
    assert _outcomes(conn, _audience())["no_duplicate_keys"] is False
    conn.execute("delete from audiences.aud_t")
    conn.execute("insert into audiences.aud_t values ('p1','t','a@x.io'),(null,'t','n@x.io')")
    assert _outcomes(conn, _audience())["no_duplicate_keys"] is False


def test_member_without_consent_for_the_channel_fails(conn):
    conn.execute("insert into audiences.aud_t values ('p1','t','a@x.io'),('p3','t','c@x.io')")
    assert _outcomes(conn, _audience("email"))["consented_for_email"] is False
    # p4 has sms consent only: fine for sms, not for email
    conn.execute("delete from audiences.aud_t where profile_id = 'p3'")
    conn.execute("insert into audiences.aud_t values ('p4','t','d@x.io')")
    assert _outcomes(conn, _audience("email"))["consented_for_email"] is False
    conn.execute("delete from audiences.aud_t where profile_id = 'p1'")
    assert _outcomes(conn, _audience("sms"))["consented_for_sms"] is True
    assert "consented_for_email" not in _outcomes(conn, _audience("none"))


def test_size_change_bound(conn):
    conn.execute("insert into audiences.aud_t select 'p1', 't', 'a@x.io'")
    out = evaluate_audience(conn, _audience(share=0.5), previous_size=10)
    assert not out.passed and any("size_change_within_bound" in r for r in out.reasons)
    assert _outcomes(conn, _audience(share=0.95), 10)["size_change_within_bound"] is True
    assert _outcomes(conn, _audience(share=0.5), None)["size_change_within_bound"] is True
    # small audiences may always move by min_change_rows
    assert (
        _outcomes(conn, _audience(share=0.1, min_rows=10), 10)["size_change_within_bound"] is True
    )


def test_missing_relation_fails_closed(conn):
    conn.execute("drop table audiences.aud_t")
    gate = evaluate_audience(conn, _audience(), previous_size=None)
    assert not gate.passed and all(not o.passed for o in gate.outcomes)


# ----- The profile and consent suites (Great Expectations) on a copy of the sample warehouse.

PROFILE_BREAKAGES = {
    # check that must fail -> SQL that breaks exactly that rule on the copy
    "profile_id_unique": "insert into marts.customer_profiles select * from marts.customer_profiles limit 1",
    "syncable_emails_valid": (
        "update marts.customer_profiles set email = 'not-an-email', email_is_valid = true "
        "where profile_id = (select min(profile_id) from marts.customer_profiles)"
    ),
    "is_consented_not_null": (
        "update marts.customer_consent set is_consented = null "
        "where (profile_id, channel) = (select (profile_id, channel) from marts.customer_consent "
        "order by profile_id, channel limit 1)"
    ),
}


@pytest.fixture
def warehouse_copy(tmp_path, monkeypatch, sample_warehouse, sample_warehouse_build):
    """A private copy of the session's sample warehouse; the checks' resource reads it."""
    target = tmp_path / "gates.duckdb"
    shutil.copyfile(sample_warehouse_build[0], target)
    monkeypatch.setenv("FERRY_DUCKDB_PATH", str(target))
    return target


def _profile_check_evaluations() -> dict[str, tuple[bool, str]]:
    from dagster import AssetSelection, DagsterInstance

    from orchestration.checks.profiles import build_profile_checks
    from orchestration.definitions import defs
    from orchestration.main_job import execute_selection

    keys = [key for check in build_profile_checks() for key in check.check_keys]
    result = execute_selection(defs, DagsterInstance.ephemeral(), AssetSelection.checks(*keys))
    return {
        e.event_specific_data.check_name: (
            e.event_specific_data.passed,
            e.event_specific_data.description or "",
        )
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_profile_suites_pass_on_the_sample_warehouse(warehouse_copy):
    evaluations = _profile_check_evaluations()
    assert set(PROFILE_BREAKAGES) <= set(evaluations)
    failed = {name: d for name, (ok, d) in evaluations.items() if not ok}
    assert not failed, failed


@pytest.mark.parametrize("check", sorted(PROFILE_BREAKAGES))
def test_profile_suites_fail_naming_what_failed(warehouse_copy, check):
    conn = duckdb.connect(str(warehouse_copy))
    try:
        conn.execute(PROFILE_BREAKAGES[check])
    finally:
        conn.close()
    evaluations = _profile_check_evaluations()
    passed, description = evaluations[check]
    assert not passed, description
    # GE counts both rows of a duplicated key as unexpected.
    unexpected = 2 if check == "profile_id_unique" else 1
    assert (
        description.startswith(f"{check} failed:")
        and f"unexpected_count={unexpected}," in description
    ), description
    # Only the broken rule fails: the message points at the cause, not at everything.
    assert [name for name, (ok, _) in evaluations.items() if not ok] == [check]
