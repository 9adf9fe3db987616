"""The engagement loop into dbt: send through both sandboxes, receive and pull, build staging and reporting.

Builds only the engagement staging models and the reporting models that depend on
them alone (rpt_campaign_messages, rpt_deliverability_by_domain) in a throwaway
DuckDB file, then checks the numbers against what the sandboxes generated.
"""

from __future__ import annotations

import os
from collections import Counter

import duckdb
import pytest

from connectors.base import Operation, Outcome, Record
from connectors.engagement_store import EngagementStore, WsgiServer
from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.engagement import SendGridEventReceiver, pull_suppressions
from connectors.sendgrid.sandbox import SANDBOX_API_KEY, EngagementRates, SendGridSandbox
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.engagement import pull_messages
from connectors.twilio.sandbox import (
    SANDBOX_ACCOUNT_SID,
    SANDBOX_AUTH_TOKEN,
    SmsRates,
    TwilioSandbox,
)
from orchestration.paths import DBT_PROJECT_DIR
from tests.connectors.twilio.loopback import loopback_receiver


def _land_engagement(
    store: EngagementStore,
) -> tuple[list[dict], list[tuple[str, str]], set[tuple[str, str]]]:
    with SendGridSandbox() as sg, WsgiServer(SendGridEventReceiver(store, sg.public_key)) as sg_rx:
        sg.webhook_url = sg_rx.base_url + "/sendgrid/events"
        dest = SendGridDestination.from_options(
            {
                "api_key": SANDBOX_API_KEY,
                "host": sg.base_url,
                "from_email": "news@shop.example",
                "template_id": "d-1",
            }
        )
        domains = ["gmail.test", "yahoo.test", "corp.test"]
        records = [
            Record(
                f"p{i}",
                Operation.SEND,
                {
                    "email": f"u{i}@{domains[i % 3]}",
                    "ferry_sync": "aud_win_back__sendgrid_tx",
                    "ferry_variant": "a" if i % 2 else "b",
                },
                idempotency_key=f"k{i}",
            )
            for i in range(24)
        ]
        assert {r.outcome for r in dest.write(records)} == {Outcome.ACCEPTED}
        events = sg.generate_engagement(
            EngagementRates(bounce=0.15, open=0.6, click=0.5, unsubscribe=0.3, spamreport=0.05),
            seed=11,
        )
        pull_suppressions(dest.client, store)
    with (
        loopback_receiver(store) as (_tw_receiver, tw_rx),
        TwilioSandbox(inbound_url=tw_rx.base_url + "/twilio/inbound") as tw,
    ):
        sms = TwilioDestination.from_options(
            {
                "account_sid": SANDBOX_ACCOUNT_SID,
                "auth_token": SANDBOX_AUTH_TOKEN,
                "base_url": tw.base_url + "/2010-04-01",
                "body": "Hi {first_name}",
                "status_callback": tw_rx.base_url + "/twilio/status",
            }
        )
        texts = [
            Record(
                f"s{i}",
                Operation.SEND,
                {
                    "phone": f"+3361200{i:04d}",
                    "first_name": "A",
                    "ferry_sync": "aud_win_back__twilio_sms",
                },
                idempotency_key=f"t{i}",
            )
            for i in range(12)
        ]
        assert {r.outcome for r in sms.write(texts)} == {Outcome.ACCEPTED}
        changes = tw.advance(SmsRates(failed=0.1, undelivered=0.1, stop=0.3), seed=5)
        pull_messages(
            sms, store
        )  # the same statuses again, from the list API: no duplicates downstream
        opt_outs = set(tw.state.opt_outs)
    store.close()
    return events, changes, opt_outs


@pytest.mark.slow  # a dbt parse of the whole project: ~20 s idle, over a minute on a busy machine
def test_engagement_reaches_staging_and_reporting(tmp_path) -> None:
    from dbt.cli.main import dbtRunner

    path = tmp_path / "wh.duckdb"
    store = EngagementStore(path)
    events, changes, opt_outs = _land_engagement(store)

    os.environ["FERRY_DUCKDB_PATH"] = str(path)
    result = dbtRunner().invoke(
        [
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
            "--select",
            "path:models/staging/sendgrid",
            "path:models/staging/twilio",
            "rpt_campaign_messages",
            "rpt_deliverability_by_domain",
            "--quiet",
        ]
    )
    assert result.success, result.exception

    con = duckdb.connect(str(path))
    def q(sql: str) -> list:
        return con.execute(sql).fetchall()

    try:
        kinds = Counter(e["event"] for e in events)
        assert q("select count(*) from staging.stg_sendgrid__events")[0][0] == len(events)
        # one email message per send, attributed to its sync, audience and variant
        email = q(
            "select count(*), count(distinct record_key), min(sync_name), min(audience_name), "
            "sum(case when is_delivered then 1 else 0 end), sum(case when is_bounced then 1 else 0 end), "
            "sum(case when is_clicked then 1 else 0 end), sum(case when is_unsubscribed then 1 else 0 end) "
            "from reporting.rpt_campaign_messages where channel = 'email'"
        )[0]
        assert email[:4] == (24, 24, "aud_win_back__sendgrid_tx", "aud_win_back")
        assert email[4:] == (
            kinds["delivered"],
            kinds["bounce"],
            kinds["click"],
            kinds["unsubscribe"],
        )
        assert {
            v
            for (v,) in q(
                "select distinct variant from reporting.rpt_campaign_messages where channel = 'email'"
            )
        } == {"a", "b"}
        # deliverability by domain adds up to the same totals
        by_domain = q(
            "select sum(messages), sum(delivered), sum(bounced) from reporting.rpt_deliverability_by_domain"
        )[0]
        assert by_domain == (24, kinds["delivered"], kinds["bounce"])
        assert len(q("select * from reporting.rpt_deliverability_by_domain")) == 3
        # SMS: every message once (callbacks and the pull overlap), STOPs charged to a message
        final = Counter(
            status for _, status in changes if status in ("delivered", "undelivered", "failed")
        )
        sms = q(
            "select count(*), sum(case when is_delivered then 1 else 0 end), sum(case when is_bounced then 1 else 0 end), "
            "sum(case when is_unsubscribed then 1 else 0 end), min(audience_name) from reporting.rpt_campaign_messages where channel = 'sms'"
        )[0]
        assert sms == (
            12,
            final["delivered"],
            final["undelivered"] + final["failed"],
            len(opt_outs),
            "aud_win_back",
        )
        # the int_events-shaped models: unique ids, every landed row, recipient identifiers alongside
        sg_rows = q(
            "select count(*), count(distinct event_id), count(email) from intermediate.int_sendgrid_engagement_events"
        )[0]
        suppressions = q("select count(*) from raw.sendgrid_suppressions")[0][0]
        assert sg_rows == (len(events) + suppressions,) * 3 and suppressions > 0
        tw_rows = q(
            "select count(*), count(distinct event_id), count(phone) from intermediate.int_twilio_engagement_events"
        )[0]
        statuses = q("select count(*) from staging.stg_twilio__message_statuses")[0][0]
        assert tw_rows == (statuses + len(opt_outs),) * 3 and statuses == len(changes)
        assert {
            t
            for (t,) in q(
                "select distinct event_type from intermediate.int_twilio_engagement_events where source = 'twilio_opt_outs'"
            )
        } == {"sms_stop"}
        # one identifier row per engagement row, keyed like int_events, for the identity layer
        for vendor, kind in (("sendgrid", "email"), ("twilio", "phone")):
            ids = q(
                f"select count(*), count(distinct source || ':' || source_record_id), min(identifier_type) "
                f"from staging.stg_{vendor}__engagement_identifiers"
            )[0]
            events_total = q(f"select count(*) from staging.stg_{vendor}__engagement_events")[0][0]
            assert ids == (events_total, events_total, kind)
    finally:
        con.close()


@pytest.fixture(autouse=True)
def _restore_env():
    before = os.environ.get("FERRY_DUCKDB_PATH")
    yield
    if before is None:
        os.environ.pop("FERRY_DUCKDB_PATH", None)
    else:
        os.environ["FERRY_DUCKDB_PATH"] = before
