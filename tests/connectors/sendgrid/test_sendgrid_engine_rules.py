"""The engine's production rules as SendGrid sees them, through the sandbox: a changed
e-mail leaves no stale address on the list, `on_null: clear` blanks the field, an
erased person's contact is deleted, a malformed address is one rejected record."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.sandbox import SANDBOX_API_KEY, SendGridSandbox
from syncs import engine
from syncs.config import FieldMapping
from tests.syncs.conftest import create_warehouse, make_sync, set_audience


@pytest.fixture()
def sandbox() -> Iterator[SendGridSandbox]:
    with SendGridSandbox(job_delay=0.01) as sb:
        yield sb


@pytest.fixture()
def conn(tmp_path) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(tmp_path / "wh.duckdb"))
    create_warehouse(c)
    yield c
    c.close()


def _dest(sb: SendGridSandbox) -> SendGridDestination:
    return SendGridDestination.from_options(
        {
            "api_key": SANDBOX_API_KEY,
            "host": sb.base_url,
            "list_name": "aud_test",
            "from_email": "news@shop.example",
            "subject": "Hello",
            "poll_interval": 0.01,
        },
        name="sendgrid_marketing",
    )


def _list(sb: SendGridSandbox) -> set[str]:
    sb.advance()  # list removals are jobs SendGrid finishes on its own time
    [list_id] = sb.state.lists
    return sb.state.list_emails(list_id)


def test_a_changed_email_leaves_no_stale_address_on_the_list(sandbox, conn) -> None:
    set_audience(conn, [("p1", "ann@x.com", "Ann", "treatment"), ("p2", "bob@x.com", "Bob", "treatment")])
    sync = make_sync("mirror")
    assert engine.run(sync, conn, _dest(sandbox)).status == "success"
    set_audience(conn, [("p1", "ann.new@x.com", "Ann", "treatment"), ("p2", "bob@x.com", "Bob", "treatment")])
    r = engine.run(sync, conn, _dest(sandbox))
    assert r.status == "success" and r.sent == 1
    assert _list(sandbox) == {"ann.new@x.com", "bob@x.com"}
    # and when Ann leaves later, the address the list holds now is the one removed
    set_audience(conn, [("p2", "bob@x.com", "Bob", "treatment")])
    engine.run(sync, conn, _dest(sandbox), confirm=True)
    assert _list(sandbox) == {"bob@x.com"}


def test_on_null_clear_blanks_text_fields_and_refuses_number_fields(sandbox, conn) -> None:
    set_audience(conn, [("p1", "ann@x.com", "Ann", "treatment"), ("p2", "bob@x.com", "Bob", "treatment")])
    conn.execute("alter table audiences.aud_test add column score double")
    conn.execute("update audiences.aud_test set score = 3")
    clear = {
        "first_name": FieldMapping(column="first_name", on_null="clear"),
        "score": FieldMapping(column="score", on_null="clear"),
    }
    sync = make_sync("mirror", fields=clear)
    assert engine.run(sync, conn, _dest(sandbox)).status == "success"
    conn.execute("update audiences.aud_test set first_name = null where profile_id = 'p1'")
    conn.execute("update audiences.aud_test set score = null where profile_id = 'p2'")
    r = engine.run(sync, conn, _dest(sandbox))
    sandbox.advance()
    assert sandbox.state.contact_by_email("ann@x.com")["first_name"] == ""
    # a Number field cannot be cleared at SendGrid: refused with the reason, never "synced"
    assert r.status == "partial" and r.sent == 1 and r.failed == 1
    assert "cannot be cleared at SendGrid" in r.error
    assert engine.plan(sync, conn).counts["update"] == 1  # still to do, not recorded as done


def test_an_erased_person_is_deleted_from_sendgrid(sandbox, conn) -> None:
    set_audience(conn, [("p1", "ann@x.com", "Ann", "treatment"), ("p2", "bob@x.com", "Bob", "treatment")])
    sync = make_sync("upsert")
    engine.run(sync, conn, _dest(sandbox))
    conn.execute("create table marts.erased_profiles (profile_id varchar, erased_at timestamp)")
    conn.execute("insert into marts.erased_profiles values ('p1', now())")
    conn.execute("delete from audiences.aud_test where profile_id = 'p1'")
    r = engine.run(sync, conn, _dest(sandbox))
    assert r.status == "success" and r.planned["erase"] == 1
    sandbox.advance()
    assert sandbox.state.contact_by_email("ann@x.com") is None  # the contact, not just the list entry
    assert sandbox.state.contact_by_email("bob@x.com") is not None


def test_a_malformed_address_is_one_rejected_send(sandbox, conn) -> None:
    set_audience(
        conn,
        [("p1", "ann@x.com", "Ann", "treatment", "d1"), ("p2", "not-an-address", "Bob", "treatment", "d1"),
         ("p3", "cy@x.com", "Cy", "treatment", "d1")],
    )
    sync = make_sync("send")
    r = engine.run(sync, conn, _dest(sandbox))
    assert r.sent == 2 and r.failed == 1 and "invalid recipient" in r.error
    assert sorted(m["to_email"] for m in sandbox.state.messages) == ["ann@x.com", "cy@x.com"]
    assert engine.run(sync, conn, _dest(sandbox)).failed == 1  # retried, still refused, never blocking
