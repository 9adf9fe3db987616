"""Scores, consent and audiences built by dbt on hand-made contract rows.

The upstream contract models are stubbed over the fixture tables (see
contract_fixture.py), so this runs whatever state the upstream areas are in. One
`dbt build` runs every model, data test and unit test of this area; the
assertions below then check each starter audience's members, the exclusions,
the membership history across two runs, and that the sync engine accepts every
audience's meta config.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from orchestration.paths import DBT_PROJECT_DIR
from tests.audiences.contract_fixture import AS_OF, create_contract_tables, stub_project
from tests.audiences.dbt_helpers import run_dbt

FIRST = AS_OF.isoformat(sep=" ")
NEXT_DAY = "2026-06-16 12:00:00"

EXPECTED = {
    "aud_win_back": {"p02"},  # p03 revoked consent, p11 erased
    "aud_abandoned_cart": {"p04"},  # p05 ordered after the cart
    "aud_trial_inactive": {"p06"},  # p07 active yesterday
    "aud_trial_feature_x": {"p06"},  # used audience_builder (var trial_feature_x); p07 did not
    "aud_champions": {"p01"},
    "aud_contract_renewal_reminder": {"p08"},
    "aud_birthday_salesperson": {"p08"},  # p11's birthday is tomorrow but p11 is erased
    "aud_newsletter_welcome": {"p09"},
    "aud_nps_detractors": {"p10"},  # p11 erased
}
CHANNEL = {
    "aud_win_back": "email", "aud_abandoned_cart": "email", "aud_trial_inactive": "email",
    "aud_trial_feature_x": "email", "aud_champions": "ads", "aud_newsletter_welcome": "email",
}  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("audiences_dbt")
    db = root / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    create_contract_tables(con)
    con.close()
    project = stub_project(root)
    run_dbt(project, db, ["build", "--select", "path:models"], as_of=FIRST)
    return project, db


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_starter_audiences_have_the_expected_members(built):
    _, db = built
    for audience, expected in EXPECTED.items():
        got = {r[0] for r in query(db, f"select profile_id from audiences.{audience}")}
        assert got == expected, audience


def test_no_audience_holds_an_erased_or_unconsented_profile(built):
    _, db = built
    audiences = [
        r[0]
        for r in query(
            db,
            "select table_name from information_schema.tables "
            "where table_schema = 'audiences' and starts_with(table_name, 'aud_')",
        )
    ]
    assert len(audiences) >= len(EXPECTED)
    for audience in audiences:
        erased = query(
            db,
            f"select profile_id from audiences.{audience} where profile_id in "
            "(select profile_id from marts.erased_profiles)",
        )
        assert erased == [], audience
    for audience, channel in CHANNEL.items():
        unconsented = query(
            db,
            f"""select a.profile_id from audiences.{audience} a
            left join marts.customer_consent c on c.profile_id = a.profile_id and c.channel = '{channel}'
            where not coalesce(c.is_consented, false)""",
        )
        assert unconsented == [], audience


def test_erased_profile_is_gone_from_score_marts_and_suppressed_everywhere(built):
    _, db = built
    assert query(db, "select profile_id from marts.erased_profiles") == [("p11",)]
    for mart in (
        "customer_scores",
        "customer_consent",
        "marketing_pressure",
        "customer_rfm",
        "customer_behaviour",
    ):
        assert query(db, f"select count(*) from marts.{mart} where profile_id = 'p11'") == [(0,)], (
            mart
        )
    assert sorted(
        query(
            db,
            "select channel from marts.customer_suppressions where profile_id = 'p11' and reason = 'erasure'",
        )
    ) == [("ads",), ("email",), ("sms",)]


def test_consent_and_suppressions(built):
    _, db = built
    consent = dict(
        query(
            db,
            "select profile_id, is_consented from marts.customer_consent where channel = 'email'",
        )
    )
    assert consent["p03"] is False  # revoked after granting
    assert consent["p09"] is True  # newsletter sign-up
    assert consent["p12"] is False  # unsubscribed
    assert consent["p13"] is True  # shop marketing box on the person record
    assert consent["p08"] is False  # never asked
    reasons = sorted(
        query(db, "select reason from marts.customer_suppressions where profile_id = 'p12'")
    )
    assert reasons == [("bounce",), ("unsubscribe",)]
    reasons = sorted(
        query(db, "select reason from marts.customer_suppressions where profile_id = 'p14'")
    )
    assert reasons == [("bounce",), ("invalid",)]
    # a spam report suppresses email, a STOP reply suppresses SMS, each with its reason
    reasons = sorted(
        query(
            db, "select channel, reason from marts.customer_suppressions where profile_id = 'p15'"
        )
    )
    assert reasons == [("email", "spam_report"), ("sms", "stop")]


def test_interest_audience_holds_consented_profiles_of_that_main_interest(built):
    _, db = built
    interests = dict(
        query(
            db,
            "select profile_id, main_interest from marts.customer_scores where profile_id in ('p16', 'p17')",
        )
    )
    assert interests == {"p16": "hiking", "p17": "hiking"}  # 3 hiking views outweigh 1 yoga
    rows = query(db, "select profile_id, email, main_interest from audiences.aud_interest_hiking")
    assert rows == [("p16", "pia@example.com", "hiking")]  # p17 has no email consent
    others = query(
        db,
        "select table_name from information_schema.tables where table_schema = 'audiences' "
        "and starts_with(table_name, 'aud_interest_') and table_name <> 'aud_interest_hiking'",
    )
    assert len(others) >= 5
    for (audience,) in others:
        members = {r[0] for r in query(db, f"select profile_id from audiences.{audience}")}
        assert not members & {"p16", "p17"}, audience


def test_pressure_and_contactability(built):
    _, db = built
    [(pressure, contactable)] = query(
        db,
        "select pressure, is_contactable from marts.marketing_pressure "
        "where profile_id = 'p01' and channel = 'email'",
    )
    assert pressure == pytest.approx(1.75)  # deliveries 0, 7, 14 days old, half-life 7
    assert contactable is True
    row = query(
        db,
        "select contactable_email, contactable_ads, contactable_sms from marts.customer_contactability where profile_id = 'p01'",
    )
    assert row == [(True, True, False)]
    assert query(
        db, "select contactable_email from marts.customer_contactability where profile_id = 'p12'"
    ) == [(False,)]


def test_variants_match_an_independent_hash(built):
    _, db = built
    rows = query(db, "select profile_id, variant from audiences.aud_win_back")
    for profile_id, variant in rows:
        bucket = int(hashlib.md5(f"{profile_id}:aud_win_back".encode()).hexdigest()[:8], 16) % 10000
        assert variant == ("holdout" if bucket < 1000 else "treatment")


def test_membership_history_records_entries_and_exits(built, tmp_path):
    project, db = built
    copy = tmp_path / "w.duckdb"
    copy.write_bytes(db.read_bytes())
    first = query(
        copy, "select audience, profile_id, change_type from audiences.audience_membership_history"
    )
    assert ("aud_abandoned_cart", "p04", "entered") in first
    assert all(change == "entered" for _, _, change in first)
    # a day later the 24 h cart window has passed: p04 leaves; the others stay put
    run_dbt(
        project,
        copy,
        ["run", "--select", "aud_abandoned_cart", "audience_membership_history"],
        as_of=NEXT_DAY,
    )
    later = query(
        copy,
        "select audience, profile_id, change_type, cast(changed_at as varchar) "
        "from audiences.audience_membership_history where changed_at > (select min(changed_at) from audiences.audience_membership_history)",
    )
    assert ("aud_abandoned_cart", "p04", "left", NEXT_DAY) in later
    assert not any(a == "aud_win_back" for a, *_ in later)
    # running again at the same instant adds nothing
    before = query(copy, "select count(*) from audiences.audience_membership_history")
    run_dbt(project, copy, ["run", "--select", "audience_membership_history"], as_of=NEXT_DAY)
    assert query(copy, "select count(*) from audiences.audience_membership_history") == before


def test_sync_engine_accepts_every_audience_config(built):
    """The sync engine's own loader (syncs/config.py) validates the manifest's meta."""
    from syncs.config import load_syncs

    project, _ = built
    syncs = load_syncs(
        project.parent / "target" / "manifest.json", DBT_PROJECT_DIR / "destinations.yml"
    )
    names = {s.name for s in syncs}
    assert {
        "aud_win_back__sendgrid_marketing",
        "aud_abandoned_cart__sendgrid_transactional",
        "aud_interest_hiking__sendgrid_marketing",
        "aud_loyal_sms_vip__twilio_sms",
    } <= names
    by_name = {s.name: s for s in syncs}
    assert by_name["aud_abandoned_cart__sendgrid_transactional"].occurrence == "cart_added_at"
    assert by_name["aud_contract_renewal_reminder__crm_webhook"].identifiers == {
        "email": "owner_email"
    }


def test_size_history_counts_members(built):
    _, db = built
    sizes = query(
        db, "select audience, sum(members) from audiences.audience_size_history group by 1"
    )
    assert dict(sizes) == {
        audience: len(members) for audience, members in EXPECTED.items() if members
    } | {a: n for a, n in sizes if a not in EXPECTED}


def test_preview_counts_a_rule_before_it_is_committed(built, tmp_path):
    """`ferry audiences preview`: members, and who consent and erasure remove."""
    from orchestration.audience_rules.preview import preview_rule

    _, db = built
    rule = tmp_path / "lapsed.yml"
    rule.write_text(
        "name: lapsed_preview\nchannel: email\n"
        "conditions:\n  - {trait: lifecycle_stage, op: in, value: [lapsed, churned]}\n"
    )
    result = preview_rule(DBT_PROJECT_DIR, rule, db, as_of=FIRST)
    # p02 and p03 are lapsed (p11 too, but erased profiles have no scores at all)
    assert (result.matched, result.without_consent, result.members) == (2, 1, 1)
    assert result.sample == ["p02"]
