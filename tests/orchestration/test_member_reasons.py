"""Why, per person: every held-back reason and a vendor's rejection, queryable by profile id.

A real SMS send sync runs through the engine against the Twilio sandbox over
loopback, on a DuckDB warehouse with the policy marts, one member per reason:
no consent, pressure cap, holdout, erased, quiet hours (the recipient's phone is
in Tokyo, where the pinned clock says 21:00), a number Twilio refuses (21211),
and one who gets the text. Then `reporting.sync_member_outcomes` is built and
read per profile. A list sync (loopback destination) shows added and updated
apart, in `ferry_sync.record_results.plan_operation` and in the outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from connectors.quiet_hours import QuietHours
from connectors.twilio.destination import TwilioDestination
from connectors.twilio.sandbox import SANDBOX_ACCOUNT_SID, SANDBOX_AUTH_TOKEN, TwilioSandbox
from orchestration.assets.member_outcomes import TABLE, build_outcomes
from syncs import engine
from syncs.config import DestinationSpec, FieldMapping, Policies, SyncConfig
from tests.syncs.loopback import LoopbackDestination

# 12:00 UTC: 13:00 in Paris (texts go out), 21:00 in Tokyo (inside 20:00-08:00: deferred).
NOON_UTC = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
QUIET = QuietHours(start="20:00", end="08:00")

# profile -> (phone, variant, sms consent, pressure, suppression reason)
MEMBERS = {
    "p_no_consent": ("+33612000001", "a", False, 0.0, None),
    "p_pressure": ("+33612000002", "a", True, 5.0, None),
    "p_holdout": ("+33612000003", "holdout", True, 0.0, None),
    "p_erased": ("+33612000004", "a", True, 0.0, "erasure"),
    "p_night": ("+81312345678", "a", True, 0.0, None),
    "p_bad_number": ("+0612345678", "a", True, 0.0, None),
    "p_texted": ("+33612000007", "a", True, 0.0, None),
}


def _warehouse(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create schema audiences")
    conn.execute("create schema marts")
    conn.execute(
        "create table audiences.aud_sms (profile_id varchar, phone varchar, first_name varchar, "
        "variant varchar, entered_at varchar)"
    )
    conn.execute(
        "create table marts.customer_consent (profile_id varchar, channel varchar, is_consented boolean, "
        "consent_source varchar, consent_changed_at timestamp)"
    )
    conn.execute(
        "create table marts.customer_suppressions (profile_id varchar, channel varchar, reason varchar, "
        "suppressed_at timestamp)"
    )
    conn.execute("create table marts.marketing_pressure (profile_id varchar, channel varchar, pressure double)")
    for profile, (phone, variant, consent, pressure, suppression) in MEMBERS.items():
        conn.execute("insert into audiences.aud_sms values (?, ?, 'Ann', ?, '2026-01-01')", [profile, phone, variant])
        conn.execute("insert into marts.customer_consent values (?, 'sms', ?, 'test', null)", [profile, consent])
        conn.execute("insert into marts.marketing_pressure values (?, 'sms', ?)", [profile, pressure])
        if suppression:
            conn.execute("insert into marts.customer_suppressions values (?, 'all', ?, null)", [profile, suppression])


def _sms_sync() -> SyncConfig:
    return SyncConfig(
        name="aud_sms__twilio_sms",
        audience="aud_sms",
        schema_name="audiences",
        table="aud_sms",
        destination_name="twilio_sms",
        destination=DestinationSpec(type="twilio"),
        mode="send",
        channel="sms",
        identifiers={"phone": "phone"},
        fields={"first_name": FieldMapping(column="first_name")},
        policies=Policies(pressure_cap=2.0, max_removal_share=1.0, quiet_hours=QUIET),
        occurrence="entered_at",
    )


def _why(conn: duckdb.DuckDBPyConnection, profile: str) -> list[tuple]:
    return conn.execute(
        f"select outcome, reason, detail from {TABLE} where profile_id = ? order by outcome", [profile]
    ).fetchall()


def test_each_held_back_reason_and_a_vendor_rejection_per_person(tmp_path) -> None:
    with TwilioSandbox() as tw, duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        _warehouse(conn)
        sms = TwilioDestination.from_options(
            {
                "account_sid": SANDBOX_ACCOUNT_SID,
                "auth_token": SANDBOX_AUTH_TOKEN,
                "base_url": tw.base_url + "/2010-04-01",
                "body": "Hi {first_name}",
                "quiet_hours": QUIET.model_dump(),
            }
        )
        sms.now = lambda: NOON_UTC
        result = engine.run(_sms_sync(), conn, sms)
        assert (result.sent, result.failed, result.pending) == (1, 1, 1), result
        assert [m["to"] for m in tw.state.outbound()] == [MEMBERS["p_texted"][0]]

        build_outcomes(conn, syncs=[_sms_sync()])

        assert _why(conn, "p_no_consent") == [("held back", "no consent", None)]
        assert _why(conn, "p_pressure") == [("held back", "pressure cap", None)]
        assert _why(conn, "p_holdout") == [("held back", "holdout group", None)]
        assert _why(conn, "p_erased") == [("held back", "erased", None)]
        [(outcome, reason, detail)] = _why(conn, "p_night")
        assert (outcome, reason) == ("held back", "quiet hours")
        assert "20:00-08:00" in detail and "Asia/Tokyo" in detail
        # the vendor's error code and message, the number itself redacted
        [(outcome, reason, detail)] = _why(conn, "p_bad_number")
        assert outcome == "rejected" and reason.startswith("21211: ") and "not a valid phone number" in reason
        assert "0612345678" not in reason and "<phone>" in reason
        assert _why(conn, "p_texted") == [("delivered", "sent", None)]


def test_added_and_updated_are_told_apart(tmp_path) -> None:
    changed = "p1"
    list_sync = SyncConfig(
        name="aud_list__loop",
        audience="aud_list",
        schema_name="audiences",
        table="aud_list",
        destination_name="loop",
        destination=DestinationSpec(type="loopback"),
        mode="mirror",
        channel="none",
        identifiers={"email": "email"},
        fields={"first_name": FieldMapping(column="first_name")},
        policies=Policies(max_removal_share=1.0, respect_holdout=False),
    )
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as conn:
        conn.execute("create schema audiences")
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.customer_suppressions (profile_id varchar, channel varchar, reason varchar, "
            "suppressed_at timestamp)"
        )
        conn.execute(
            "create table audiences.aud_list as select 'p' || i as profile_id, 'u' || i || '@x.test' as email, "
            "'Ann' as first_name from range(3) t(i)"
        )
        dest = LoopbackDestination()
        assert engine.run(list_sync, conn, dest).status == "success"
        conn.execute("update audiences.aud_list set first_name = 'Bo' where profile_id = ?", [changed])
        second = engine.run(list_sync, conn, dest)
        assert second.status == "success" and second.sent == 1
        ops = conn.execute(
            "select record_key, operation, plan_operation from ferry_sync.record_results order by recorded_at, record_key"
        ).fetchall()
        assert ops == [
            ("p0", "upsert", "add"),
            ("p1", "upsert", "add"),
            ("p2", "upsert", "add"),
            (changed, "upsert", "update"),
        ]
        build_outcomes(conn, syncs=[list_sync])
        assert _why(conn, changed) == [("delivered", "updated", None)]
        assert _why(conn, "p0") == [("delivered", "added", None)]
