"""Integration on generated data: `ferry generate --people 300`, then dbt builds the
real project (staging, identity, core marts) up to every audience. Every starter
audience builds; those the generator feeds are non-empty; none holds an erased
profile or, for a marketing channel, a profile without consent for it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from sample_data.generate import generate
from tests.audiences.contract_fixture import stub_project
from tests.audiences.dbt_helpers import run_dbt

pytestmark = pytest.mark.slow  # generation + the whole pipeline: about a minute of CPU

AS_OF = dt.date(2026, 6, 15)
# Audiences the generator feeds at 300 people (others depend on rarer situations).
NON_EMPTY = (
    "aud_win_back", "aud_abandoned_cart", "aud_trial_inactive", "aud_trial_feature_x",
    "aud_champions",
)  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audiences_generated")
    db = root / "warehouse.duckdb"
    generate(300, 42, db, as_of=AS_OF)
    project = stub_project(root, use_stubs=False)
    as_of = f"{AS_OF.isoformat()} 00:00:00"
    # upstream models as they are; then this area's data and unit tests
    run_dbt(
        project,
        db,
        [
            "build",  # seeds (fuzzy nicknames, review decisions) and models, tests below
            "--select",
            "+path:models/audiences",
            "+path:models/marts/consent",
            "+path:models/marts/scores",
            "--exclude",
            "test_type:data",
            "test_type:unit",
        ],
        as_of=as_of,
    )
    run_dbt(
        project,
        db,
        [
            "test",
            "--select",
            "path:models/marts/scores",
            "path:models/marts/consent",
            "path:models/audiences",
        ],
        as_of=as_of,
    )
    return db


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_audience_builds_and_the_fed_ones_are_non_empty(warehouse):
    sizes = dict(
        rows(
            warehouse,
            """select table_name, estimated_size from duckdb_tables()
                                    where schema_name = 'audiences' and starts_with(table_name, 'aud_')""",
        )
    )
    for audience in NON_EMPTY:
        count = rows(warehouse, f"select count(*) from audiences.{audience}")[0][0]
        assert count > 0, audience
    assert len(sizes) >= 19  # 9 starter + 10 rule audiences
    # the reminder is non-empty exactly when some owned CRM contact's competitor contract
    # ends within the next 30 days
    [(contracts,)] = rows(
        warehouse,
        f"""select count(distinct r.profile_id) from marts.customer_scores s
        inner join (select i.profile_id, p.competitor_contract_end_date as end_date
                    from intermediate.int_person_records p
                    inner join intermediate.int_profile_ids_resolved i using (source, source_record_id)) r
            on r.profile_id = s.profile_id
        where s.owner_email is not null
            and r.end_date > date '{AS_OF}' and r.end_date <= date '{AS_OF}' + interval 30 day""",
    )
    [(reminders,)] = rows(warehouse, "select count(*) from audiences.aud_contract_renewal_reminder")
    assert (reminders > 0) == (contracts > 0)
    assert reminders <= contracts
    # NPS detractors: non-empty exactly when someone's latest NPS answer of the last
    # 90 days scores 0..6 (few surveys at 300 people, so this depends on the seed).
    [(detractors,)] = rows(
        warehouse,
        f"""with nps as (
            select profile_id, cast(coalesce(json_extract_string(attributes_json, '$.nps'), json_extract_string(attributes_json, '$.score')) as double) as score,
                   row_number() over (partition by profile_id order by occurred_at desc, event_id desc) as rn
            from marts.customer_events
            where event_type = 'survey_answered' and category = 'nps'
                and occurred_at <= timestamp '{AS_OF} 00:00:00'
                and occurred_at > timestamp '{AS_OF} 00:00:00' - interval 90 day)
        select count(*) from nps where rn = 1 and score <= 6""",
    )
    [(members,)] = rows(warehouse, "select count(*) from audiences.aud_nps_detractors")
    assert (members > 0) == (detractors > 0)
    assert members <= detractors


def test_no_audience_member_is_erased_or_without_consent(warehouse):
    erased = rows(warehouse, "select count(*) from marts.erased_profiles")[0][0]
    assert erased > 0  # the generator always files erasure requests
    metas = rows(
        warehouse,
        "select table_name from duckdb_tables() where schema_name = 'audiences' and starts_with(table_name, 'aud_')",
    )
    channels = {
        "aud_win_back": "email", "aud_abandoned_cart": "email", "aud_trial_inactive": "email",
        "aud_trial_feature_x": "email", "aud_champions": "ads", "aud_newsletter_welcome": "email",
        "aud_engaged_browsers": "email", "aud_loyal_sms_vip": "sms",
    }  # fmt: skip
    channels.update({t: "email" for (t,) in metas if t.startswith("aud_interest_")})
    for (audience,) in metas:
        bad = rows(
            warehouse,
            f"select count(*) from audiences.{audience} where profile_id in (select profile_id from marts.erased_profiles)",
        )
        assert bad == [(0,)], audience
    for audience, channel in channels.items():
        bad = rows(
            warehouse,
            f"""select count(*) from audiences.{audience} a
            where not exists (select 1 from marts.customer_consent c where c.profile_id = a.profile_id
                              and c.channel = '{channel}' and c.is_consented)""",
        )
        assert bad == [(0,)], audience


def test_scores_cover_every_profile(warehouse):
    [(profiles, scored, stages)] = rows(
        warehouse,
        """select
        (select count(*) from marts.customer_profiles where profile_id not in (select profile_id from marts.erased_profiles)),
        (select count(*) from marts.customer_scores),
        (select count(distinct lifecycle_stage) from marts.customer_scores)""",
    )
    assert scored == profiles > 0
    assert stages >= 4
