"""The audience gate (Great Expectations) on hand-made tables: each rule fails when it should."""

from __future__ import annotations

import duckdb
import pytest
from dagster import AssetKey

from orchestration.assets.catalog import Audience, AudienceChecksConfig
from orchestration.checks.audiences import evaluate_audience


@pytest.fixture
def conn(tmp_path):
    c = duckdb.connect(str(tmp_path / "gate.duckdb"))
    c.execute("create schema audiences; create schema marts")
    c.execute("create table marts.customer_consent (profile_id varchar, channel varchar, is_consented boolean)")
    c.execute(
        "insert into marts.customer_consent values "
        "('p1','email',true),('p2','email',true),('p3','email',false),('p4','sms',true)"
    )
    c.execute("create table audiences.aud_t (profile_id varchar, variant varchar, email varchar)")
    yield c
    c.close()


def _audience(channel: str = "email", share: float = 0.5, min_rows: int = 0) -> Audience:
    return Audience(
        name="aud_t", description="", asset_key=AssetKey(["audiences", "aud_t"]), schema_name="audiences",
        table="aud_t", key="profile_id", channel=channel,
        checks=AudienceChecksConfig(max_size_change=share, min_change_rows=min_rows),
    )


def _outcomes(conn, audience, previous=None) -> dict[str, bool]:
    gate = evaluate_audience(conn, audience, previous)
    return {o.name: o.passed for o in gate.outcomes}


def test_clean_audience_passes(conn):
    conn.execute("insert into audiences.aud_t values ('p1','treatment','a@x.io'),('p2','holdout','b@x.io')")
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
    assert _outcomes(conn, _audience(share=0.1, min_rows=10), 10)["size_change_within_bound"] is True


def test_missing_relation_fails_closed(conn):
    conn.execute("drop table audiences.aud_t")
    gate = evaluate_audience(conn, _audience(), previous_size=None)
    assert not gate.passed and all(not o.passed for o in gate.outcomes)
