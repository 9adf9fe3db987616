"""SMS attributed to their sync, audience and variant through the engine's send ledger.

A real send-mode sync (the engine, a DuckDB file) texts an audience through the
Twilio sandbox over loopback *without* a StatusCallback URL, so the statuses
come back only from the message-list pull, which carries no attribution. dbt
then builds the send ledger's staging model and `rpt_campaign_messages`: every
SMS must be charged to the sync, audience and A/B variant that sent it (joined
on the message SID the ledger recorded as destination_id), and the counts per
variant must match what the sandbox delivered and failed.
"""

from __future__ import annotations

from collections import Counter

import duckdb
import pytest

from connectors.engagement_store import EngagementStore
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.engagement import pull_messages
from connectors.twilio.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SmsRates,
    TwilioSandbox,
)
from orchestration.paths import DBT_PROJECT_DIR
from syncs import engine
from syncs.config import DestinationSpec, FieldMapping, Policies, SyncConfig

PEOPLE = 12
SYNC = "aud_sms_promo__twilio_sms"


def _audience(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """An SMS audience with an A/B split, every member consenting; returns phone -> variant."""
    conn.execute("create schema audiences")
    conn.execute("create schema marts")
    conn.execute(
        "create table audiences.aud_sms_promo as select 'p' || i as profile_id, "
        "'+336120' || lpad(cast(i as varchar), 5, '0') as phone, 'Ann' as first_name, "
        "case when i % 2 = 0 then 'a' else 'b' end as variant, '2026-01-01' as entered_at "
        f"from range({PEOPLE}) t(i)"
    )
    conn.execute(
        "create table marts.customer_consent as select profile_id, 'sms' as channel, true as is_consented, "
        "'test' as consent_source, cast(null as timestamp) as consent_changed_at from audiences.aud_sms_promo"
    )
    conn.execute(
        "create table marts.customer_suppressions (profile_id varchar, channel varchar, reason varchar, "
        "suppressed_at timestamp)"
    )
    conn.execute("create table marts.marketing_pressure (profile_id varchar, channel varchar, pressure double)")
    return dict(conn.execute("select phone, variant from audiences.aud_sms_promo").fetchall())


def _sync() -> SyncConfig:
    return SyncConfig(
        name=SYNC,
        audience="aud_sms_promo",
        schema_name="audiences",
        table="aud_sms_promo",
        destination_name="twilio_sms",
        destination=DestinationSpec(type="twilio"),
        mode="send",
        channel="sms",
        identifiers={"phone": "phone"},
        fields={"first_name": FieldMapping(column="first_name")},
        policies=Policies(max_removal_share=1.0),
        occurrence="entered_at",
    )


@pytest.mark.slow  # a dbt parse of the whole project: ~20 s idle, over a minute on a busy machine
def test_pulled_sms_statuses_are_attributed_through_the_send_ledger(tmp_path, monkeypatch) -> None:
    from dbt.cli.main import dbtRunner

    path = tmp_path / "wh.duckdb"
    with TwilioSandbox() as tw:
        sms = TwilioDestination.from_options(
            {
                "account_sid": SANDBOX_ACCOUNT_SID,
                "auth_token": SANDBOX_AUTH_TOKEN,
                "base_url": tw.base_url + "/2010-04-01",
                "body": "Hi {first_name}",
            }
        )
        assert sms.options.status_callback is None  # statuses will carry no attribution
        with duckdb.connect(str(path)) as conn:
            variants = _audience(conn)
            result = engine.run(_sync(), conn, sms)
            assert (result.status, result.sent) == ("success", PEOPLE), result.error
            sids = conn.execute(
                "select count(distinct destination_id) from ferry_sync.send_ledger where status = 'sent'"
            ).fetchone()[0]
            assert sids == PEOPLE
        changes = dict(tw.advance(SmsRates(failed=0.2, undelivered=0.2, stop=0.0), seed=3))
        by_sid = {m["sid"]: m for m in tw.state.outbound()}
        store = EngagementStore(path, linger=0)
        assert pull_messages(sms, store) > 0
        store.close()

    monkeypatch.setenv("FERRY_DUCKDB_PATH", str(path))
    build = dbtRunner().invoke(
        [
            "build",
            "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(tmp_path / "target"),
            "--log-path", str(tmp_path / "logs"),
            "--select", "stg_ferry_sync__sends", "source:ferry_sync",
            "path:models/staging/sendgrid", "path:models/staging/twilio", "rpt_campaign_messages",
            "--quiet",
        ]
    )  # fmt: skip
    assert build.success, build.exception

    with duckdb.connect(str(path)) as con:
        rows = con.execute(
            "select message_key, sync_name, audience_name, variant, record_key, is_delivered, is_bounced "
            "from reporting.rpt_campaign_messages where channel = 'sms'"
        ).fetchall()
    assert len(rows) == PEOPLE
    # every message charged to the sync that sent it, its audience and the member's variant
    assert {(s, a) for _, s, a, *_ in rows} == {(SYNC, "aud_sms_promo")}
    for sid, _, _, variant, record_key, _, _ in rows:
        assert variant == variants[by_sid[sid]["to"]], sid
        assert record_key.startswith("p"), sid
    # delivered / failed per variant as the sandbox decided them
    expected: Counter = Counter()
    got: Counter = Counter()
    for sid, _, _, variant, _, delivered, bounced in rows:
        final = changes.get(sid, by_sid[sid]["status"])
        expected[(variant, "delivered" if final == "delivered" else "failed")] += 1
        got[(variant, "delivered" if delivered else "failed" if bounced else "other")] += 1
    assert got == expected
    assert expected[("a", "failed")] + expected[("b", "failed")] > 0  # the failures were exercised
