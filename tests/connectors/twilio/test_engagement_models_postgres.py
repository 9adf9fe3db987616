"""Portability: engagement landed in PostgreSQL and the engagement dbt models built there.

Lands SendGrid and Twilio engagement from the sandboxes into a throwaway
PostgreSQL (tests/postgres_server.py), builds the engagement staging models and
the reporting models that depend on them alone with the `postgres` target, and
checks the numbers against what the sandboxes generated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from connectors.base import Operation, Record
from connectors.engagement_store import EngagementStore
from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.engagement import event_row, pull_suppressions
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


@pytest.mark.slow
@pytest.mark.postgres
def test_engagement_models_on_postgres(tmp_path) -> None:
    try:
        from tests.postgres_server import start_postgres

        server = start_postgres()
    except Exception as exc:  # noqa: BLE001 - no server binaries on this machine
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        store = EngagementStore(dsn=server.dsn)
        with SendGridSandbox() as sg:
            dest = SendGridDestination.from_options(
                {
                    "api_key": SANDBOX_API_KEY,
                    "host": sg.base_url,
                    "from_email": "a@shop.example",
                    "subject": "x",
                }
            )
            dest.write(
                [
                    Record(
                        f"p{i}",
                        Operation.SEND,
                        {"email": f"u{i}@ex{i % 2}.test", "ferry_sync": "aud_x__sg"},
                        idempotency_key=f"k{i}",
                    )
                    for i in range(10)
                ]
            )
            events = sg.generate_engagement(
                EngagementRates(bounce=0.2, unsubscribe=0.3), deliver=False
            )
            store.land("sendgrid_events", [event_row(e) for e in events], ingest_source="webhook")
            pull_suppressions(dest.client, store)
        with TwilioSandbox() as tw:
            sms = TwilioDestination.from_options(
                {
                    "account_sid": SANDBOX_ACCOUNT_SID,
                    "auth_token": SANDBOX_AUTH_TOKEN,
                    "base_url": tw.base_url + "/2010-04-01",
                    "body": "hi",
                }
            )
            sms.write(
                [
                    Record(
                        f"s{i}",
                        Operation.SEND,
                        {"phone": f"+3361200{i:04d}"},
                        idempotency_key=f"t{i}",
                    )
                    for i in range(6)
                ]
            )
            tw.advance(SmsRates(stop=0.5))
            pull_messages(sms, store)
            stops = len(tw.state.opt_outs)
        store.close()

        env = {**os.environ, **server.env(), "FERRY_DBT_TARGET": "postgres"}
        run = subprocess.run(
            [
                str(
                    Path(sys.executable).parent / "dbt"
                ),  # the dbt of this interpreter's environment
                "build",
                "--select",
                "path:models/staging/sendgrid",
                "path:models/staging/twilio",
                # rpt_campaign_messages' unit test reads the ledger staging model's columns
                # from its relation: built here, whatever other tests left on the server.
                "stg_ferry_sync__sends",
                "rpt_campaign_messages",
                "rpt_deliverability_by_domain",
                "--target-path",
                str(tmp_path / "target"),
                "--log-path",
                str(tmp_path / "logs"),
            ],
            cwd=DBT_PROJECT_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:]

        import psycopg

        kinds = Counter(e["event"] for e in events)
        with psycopg.connect(server.dsn) as conn:
            by_channel = {
                row[0]: row[1:]
                for row in conn.execute(
                    "select channel, count(*), sum(case when is_delivered then 1 else 0 end), "
                    "sum(case when is_unsubscribed then 1 else 0 end) from reporting.rpt_campaign_messages group by 1"
                ).fetchall()
            }
            assert by_channel["email"] == (10, kinds["delivered"], kinds["unsubscribe"])
            assert by_channel["sms"][0] == 6 and by_channel["sms"][2] == stops
            totals = conn.execute(
                "select sum(messages), sum(bounced) from reporting.rpt_deliverability_by_domain"
            ).fetchone()
            assert totals == (10, kinds["bounce"])
    finally:
        server.stop()
