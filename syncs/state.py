"""Sync state in the warehouse, schema `ferry_sync`.

Why in the warehouse: the diff is a join between the audience and this state,
so both must sit in the same database; and state committed in the same
transaction as the per-record results makes a killed run re-plannable.

Tables (no PK constraints on purpose: DuckDB checks unique constraints eagerly
inside a transaction, which breaks delete-then-insert of the same key; the
engine is the only writer and always deletes before it inserts):

- `sync_state`: per sync and record key, the hash of the payload the destination
  last accepted, the identifiers it was accepted with (a later removal needs
  them after the member left the audience) and the destination's id.
- `record_status`: records currently failing: attempts, last error, parked.
- `runs`: one row per run (or dry run is *not* recorded: a plan commits nothing).
- `record_results`: one row per record per run: operation, status, error, attempt.
- `send_ledger`: send mode's exactly-once book, one row per idempotency key.
"""

from __future__ import annotations

from syncs.warehouse import Warehouse

SCHEMA = "ferry_sync"
STATE = f"{SCHEMA}.sync_state"
STATUS = f"{SCHEMA}.record_status"
RUNS = f"{SCHEMA}.runs"
RESULTS = f"{SCHEMA}.record_results"
LEDGER = f"{SCHEMA}.send_ledger"

STATE_COLUMNS = [
    "sync_name",
    "record_key",
    "payload_hash",
    "identifiers_json",
    "destination_id",
    "synced_at",
    "run_id",
]
STATUS_COLUMNS = [
    "sync_name",
    "record_key",
    "operation",
    "payload_hash",
    "attempts",
    "last_error",
    "parked",
    "updated_at",
]
RESULT_COLUMNS = [
    "run_id",
    "sync_name",
    "record_key",
    "operation",
    "status",
    "error",
    "attempt",
    "destination_id",
    "recorded_at",
]
LEDGER_COLUMNS = [
    "sync_name",
    "idempotency_key",
    "record_key",
    "occurrence",
    "status",
    "attempts",
    "identifiers_json",
    "payload_json",
    "destination_id",
    "error",
    "created_at",
    "updated_at",
]

DDL = [
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {STATE} (
        sync_name varchar not null, record_key varchar not null, payload_hash varchar not null,
        identifiers_json varchar, destination_id varchar, synced_at timestamp, run_id varchar)""",
    f"""create table if not exists {STATUS} (
        sync_name varchar not null, record_key varchar not null, operation varchar not null,
        payload_hash varchar, attempts integer not null, last_error varchar,
        parked boolean not null, updated_at timestamp)""",
    f"""create table if not exists {RUNS} (
        run_id varchar not null, sync_name varchar not null, mode varchar, destination varchar,
        status varchar not null, started_at timestamp, finished_at timestamp,
        planned_adds bigint, planned_updates bigint, planned_removes bigint, unchanged bigint,
        sent bigint, failed bigint, parked bigint, pending bigint, suppressed bigint,
        suppressed_json varchar, reconciled bigint, error varchar)""",
    f"""create table if not exists {RESULTS} (
        run_id varchar not null, sync_name varchar not null, record_key varchar not null,
        operation varchar not null, status varchar not null, error varchar, attempt integer,
        destination_id varchar, recorded_at timestamp)""",
    f"""create table if not exists {LEDGER} (
        sync_name varchar not null, idempotency_key varchar not null, record_key varchar not null,
        occurrence varchar, status varchar not null, attempts integer not null,
        identifiers_json varchar, payload_json varchar, destination_id varchar, error varchar,
        created_at timestamp, updated_at timestamp)""",
]

# Send-ledger statuses. `intent` is written and committed before the request
# leaves; only `sent` proves delivery; `intent`/`in_doubt` must be reconciled
# with the destination before anything for that key is tried again.
INTENT, SENT, IN_DOUBT, REJECTED, RETRY, PARKED = (
    "intent",
    "sent",
    "in_doubt",
    "rejected",
    "retry",
    "parked",
)


def ensure_state(wh: Warehouse) -> None:
    """Create schema ferry_sync and its tables if absent (idempotent).

    Checked first with one catalog query: each DDL statement is its own commit
    (an fsync on DuckDB), which adds up on every run otherwise.
    """
    names = {t.split(".")[1] for t in (STATE, STATUS, RUNS, RESULTS, LEDGER)}
    present = {
        r[0]
        for r in wh.fetchall(
            "select table_name from information_schema.tables where table_schema = ?", (SCHEMA,)
        )
    }
    if names <= present:
        return
    for stmt in DDL:
        wh.execute(stmt)


def state_exists(wh: Warehouse) -> bool:
    return all(wh.table_exists(SCHEMA, t.split(".")[1]) for t in (STATE, STATUS, LEDGER))
