"""The engagement store on both warehouses: idempotent landing, cursors in the same transaction."""

from __future__ import annotations

import pytest

from connectors.engagement_store import EngagementStore


def _exercise(store: EngagementStore) -> None:
    rows = [
        {"sg_event_id": "e1", "event": "open", "email": "a@example.com"},
        {"sg_event_id": "e1", "event": "open", "email": "a@example.com"},  # repeated within a batch
        {"sg_event_id": "e2", "event": "click", "email": "a@example.com"},
    ]
    assert store.land("sendgrid_events", rows, ingest_source="webhook") == 2
    assert store.land("sendgrid_events", rows, ingest_source="webhook") == 0  # redelivered
    assert store.count("sendgrid_events") == 2
    # the cursor moves with its rows, or not at all
    with pytest.raises(ValueError):
        store.land("sendgrid_suppressions", [{"nope": 1}], ingest_source="pull", cursor=("s", "5"))
    assert store.cursor("s") is None
    new = store.land(
        "sendgrid_suppressions",
        [{"suppression_type": "bounces", "email": "b@example.com", "created": 5}],
        ingest_source="pull",
        cursors={"sendgrid.suppression.bounces": "5", "sendgrid.suppression.blocks": "0"},
    )
    assert new == 1 and store.cursor("sendgrid.suppression.bounces") == "5"
    assert store.cursors("sendgrid.suppression.") == {
        "sendgrid.suppression.bounces": "5",
        "sendgrid.suppression.blocks": "0",
    }
    store.land(
        "sendgrid_suppressions",
        [],
        ingest_source="pull",
        cursor=("sendgrid.suppression.bounces", "9"),
    )
    assert store.cursor("sendgrid.suppression.bounces") == "9"
    store.close()


def test_duckdb(tmp_path) -> None:
    _exercise(EngagementStore(tmp_path / "wh.duckdb"))


@pytest.mark.slow  # starting a PostgreSQL cluster takes ~10 s
@pytest.mark.postgres
def test_postgres() -> None:
    try:
        from tests.postgres_server import start_postgres

        server = start_postgres()
    except Exception as exc:  # noqa: BLE001 - no server binaries on this machine
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        store = EngagementStore(dsn=server.dsn)
        _exercise(store)
        env = {"FERRY_DBT_TARGET": "postgres", **server.env()}
        assert EngagementStore.from_env(env).count("sendgrid_events") == 2
    finally:
        server.stop()
