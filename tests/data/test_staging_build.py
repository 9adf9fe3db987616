"""dbt build of staging, intermediate.unioned and intermediate.quarantine on a
small generated warehouse: contracts hold, bad input is flagged or quarantined."""

from __future__ import annotations

import datetime as dt

import duckdb

from tests.data.conftest import AS_OF


def q(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchone()[0]


def test_contract_models_have_contract_columns(con_built: duckdb.DuckDBPyConnection) -> None:
    expected = {
        "int_identifiers": {
            "source",
            "source_record_id",
            "identifier_type",
            "identifier_value",
            "is_valid",
            "invalid_reason",
            "observed_at",
        },
        "int_person_records": {
            "source",
            "source_record_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "street",
            "city",
            "postcode",
            "country",
            "company",
            "job_title",
            "owner_name",
            "owner_email",
            "preferred_store",
            "loyalty_status",
            "loyalty_points",
            "source_updated_at",
        },
        "int_events": {
            "event_id",
            "source",
            "source_record_id",
            "event_type",
            "channel",
            "occurred_at",
            "category",
            "amount",
            "attributes_json",
        },
    }
    for table, cols in expected.items():
        got = {
            r[0]
            for r in con_built.execute(
                "select column_name from information_schema.columns where table_schema = 'intermediate' and table_name = ?",
                [table],
            ).fetchall()
        }
        assert cols <= got, (table, cols - got)
        assert q(con_built, f"select count(*) from intermediate.{table}") > 0


def test_identifiers_are_normalised(con_built: duckdb.DuckDBPyConnection) -> None:
    # every valid email is lowercased and trimmed, every valid phone is E.164
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_identifiers where identifier_type = 'email' and is_valid and identifier_value <> lower(trim(identifier_value))",
        )
        == 0
    )
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_identifiers where identifier_type = 'phone' and is_valid and not regexp_matches(identifier_value, '^\\+[1-9][0-9]{7,14}$')",
        )
        == 0
    )
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_identifiers where identifier_type = 'customer_id' and not regexp_matches(identifier_value, '^(crm|shop|support|product):.+')",
        )
        == 0
    )
    # the same person's national and international spellings meet on one E.164 value
    assert (
        q(
            con_built,
            """
        select count(*) from (
            select identifier_value from intermediate.int_identifiers
            where identifier_type = 'phone' and is_valid
            group by 1 having count(distinct source) >= 2)""",
        )
        > 0
    )
    # validity flags agree with reasons
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_identifiers where is_valid = (invalid_reason is not null)",
        )
        == 0
    )


def test_bad_identifiers_are_flagged_with_reasons(con_built: duckdb.DuckDBPyConnection) -> None:
    reasons = dict(
        con_built.execute(
            "select identifier_type || ':' || invalid_reason, count(*) from intermediate.int_identifiers where not is_valid group by 1"
        ).fetchall()
    )
    assert reasons.get("email:invalid_syntax", 0) > 0
    assert reasons.get("email:placeholder", 0) > 0  # test@test.com and friends
    assert (
        reasons.get("phone:placeholder", 0)
        + reasons.get("phone:wrong_length", 0)
        + reasons.get("phone:unparseable", 0)
        > 0
    )
    assert reasons.get("anonymous_id:placeholder", 0) > 0  # 'null', 'undefined'
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_identifiers where identifier_value = 'test@test.com' and is_valid",
        )
        == 0
    )
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_identifiers where identifier_type = 'phone' and regexp_replace(identifier_value, '[^0-9]', '', 'g') similar to '0+' and is_valid",
        )
        == 0
    )


def test_missing_keys_are_quarantined_not_linked(con_built: duckdb.DuckDBPyConnection) -> None:
    keyless = q(con_built, "select count(*) from raw.ground_truth where source_record_id is null")
    assert keyless > 0
    quarantined = con_built.execute(
        """
        select count(*) from raw.ground_truth g
        join intermediate.int_quarantined_records qr on qr.loader_id = g.loader_id and qr.source = g.source
        where g.source_record_id is null and qr.reason = 'missing_key'
        """
    ).fetchone()[0]
    assert quarantined == keyless
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_identifiers where source_record_id is null",
        )
        == 0
    )
    assert (
        q(
            con_built,
            "select count(*) from intermediate.int_quarantined_records where detail is null or reason is null",
        )
        == 0
    )


def test_every_keyed_record_is_used_or_quarantined(con_built: duckdb.DuckDBPyConnection) -> None:
    lost = con_built.execute(
        """
        select g.source, count(*) from raw.ground_truth g
        where g.source_record_id is not null
          and not exists (select 1 from intermediate.int_identifiers i
                          where i.source = g.source and i.source_record_id = g.source_record_id and i.is_valid)
          and not exists (select 1 from intermediate.int_quarantined_records qr
                          where qr.source = g.source and qr.loader_id = g.loader_id)
        group by 1
        """
    ).fetchall()
    assert lost == []


def test_events_are_utc_and_not_after_the_reference_date(
    con_built: duckdb.DuckDBPyConnection,
) -> None:
    ref = dt.datetime.combine(AS_OF, dt.time())
    assert (
        q(con_built, "select count(*) from intermediate.int_events where occurred_at > ?", [ref])
        == 0
    )
    assert (
        q(con_built, "select count(*) from intermediate.int_events where occurred_at is null") == 0
    )
    sources = {
        r[0]
        for r in con_built.execute("select distinct source from intermediate.int_events").fetchall()
    }
    assert {
        "shop_orders",
        "shop_order_lines",
        "web_events",
        "support_tickets",
        "support_surveys",
        "forms_submissions",
        "product_events",
        "consent_changes",
        "consent_erasure_requests",
        "shop_abandoned_carts",
    } <= sources
    # crm times were local with an offset: staged values are UTC (raw 10:00+01:00 -> 09:00)
    row = con_built.execute(
        "select r.created_at, s.created_at from raw.crm_contacts r join staging.stg_crm__contacts s using (contact_id) limit 1"
    ).fetchone()
    raw_ts = dt.datetime.fromisoformat(row[0]).astimezone(dt.UTC).replace(tzinfo=None)
    assert row[1] == raw_ts
