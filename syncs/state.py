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
  `payload_hash` is the md5 of the payload's canonical text (32 hex characters,
  the same on every warehouse and version: the authority on "changed").
  `payload_fp` (DuckDB; NULL elsewhere) is a 64-bit fingerprint of the same
  payload's values (`syncs.plan_sql.payload_fingerprint`), a shortcut: where it
  matches, the plan skips the md5; where it does not (or is NULL: rows written
  before it existed, or by a DuckDB whose `hash()` differs), the md5 decides. A
  writer of `payload_hash` writes the matching `payload_fp` or NULL with it (a
  write-ahead marker over `payload_hash` voids it: see `plan_sql._state_cte`).
- `record_status`: records currently failing: attempts, last error, parked.
- `runs`: one row per run (or dry run is *not* recorded: a plan commits nothing).
- `record_results`: one row per record per run: operation (what the destination was
  asked: upsert, remove, send, delete), status, error, attempt, and `plan_operation`
  (what the plan saw: add or update, both sent as upsert; null for send mode).
- `send_ledger`: send mode's exactly-once book, one row per idempotency key.
- `leases`: one row per running sync (see `syncs.lease`).

Destination identity: `sync_state`, `record_status` and `send_ledger` rows carry
the `destination_key` of the destination that accepted them (type + account +
list/audience, from the connector's `destination_identity`). A sync re-pointed at
another destination (the sandbox -> the real tool, another list) plans against
empty state for the new target, and the old target's rows stay for audit. Rows
written before destination identity existed (`destination_key` null) are adopted
by the destination the sync points at on its next run.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
    "destination_key",
    "profile_id",
    "payload_fp",
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
    "destination_key",
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
    "destination_key",
    "profile_id",
]

# `{zstd}`: `Warehouse.string_compression()`, after the DuckDB string columns whose values are
# (nearly) all distinct, where DuckDB's default compression costs most at commit; "" on
# other warehouses and older DuckDB storage. Tables created before keep their definition
# (create table if not exists): they work the same, with the default compression.
DDL = [
    f"create schema if not exists {SCHEMA}",
    f"""create table if not exists {STATE} (
        sync_name varchar not null, record_key varchar{{zstd}} not null,
        payload_hash varchar{{zstd}} not null, identifiers_json varchar{{zstd}},
        destination_id varchar, synced_at timestamp, run_id varchar,
        destination_key varchar, profile_id varchar{{zstd}}, payload_fp bigint)""",
    f"""create table if not exists {STATUS} (
        sync_name varchar not null, record_key varchar not null, operation varchar not null,
        payload_hash varchar, attempts integer not null, last_error varchar,
        parked boolean not null, updated_at timestamp, destination_key varchar)""",
    f"""create table if not exists {RUNS} (
        run_id varchar not null, sync_name varchar not null, mode varchar, destination varchar,
        status varchar not null, started_at timestamp, finished_at timestamp,
        planned_adds bigint, planned_updates bigint, planned_removes bigint, unchanged bigint,
        sent bigint, failed bigint, parked bigint, pending bigint, suppressed bigint,
        suppressed_json varchar, reconciled bigint, error varchar, in_doubt bigint,
        planned_erasures bigint, destination_key varchar, target varchar)""",
    f"""create table if not exists {RESULTS} (
        run_id varchar not null, sync_name varchar not null, record_key varchar{{zstd}} not null,
        operation varchar not null, status varchar not null, error varchar, attempt integer,
        destination_id varchar, recorded_at timestamp, plan_operation varchar)""",
    f"""create table if not exists {LEDGER} (
        sync_name varchar not null, idempotency_key varchar not null, record_key varchar not null,
        occurrence varchar, status varchar not null, attempts integer not null,
        identifiers_json varchar, payload_json varchar, destination_id varchar, error varchar,
        created_at timestamp, updated_at timestamp, destination_key varchar, profile_id varchar)""",
]

# Columns added after the first release: (table, column, type). `ensure_state` adds the
# ones an older ferry_sync lacks, so upgrading keeps every row (no rebuild, no loss).
ADDED_COLUMNS = [
    (STATE, "destination_key", "varchar"),
    (STATE, "profile_id", "varchar"),
    (STATE, "payload_fp", "bigint"),  # the plan's shortcut past the md5 (syncs.plan_sql)
    (STATUS, "destination_key", "varchar"),
    (LEDGER, "destination_key", "varchar"),
    (RUNS, "in_doubt", "bigint"),
    (RUNS, "planned_erasures", "bigint"),
    (RUNS, "destination_key", "varchar"),
    (RUNS, "target", "varchar"),
    (RESULTS, "plan_operation", "varchar"),
    (LEDGER, "profile_id", "varchar"),  # erasure finds a send sync's rows by person (syncs.erasure)
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
    """Create schema ferry_sync and its tables if absent, add columns newer releases need.

    Checked first with one catalog query: each DDL statement is its own commit
    (an fsync on DuckDB), which adds up on every run otherwise.
    """
    present = {
        (r[0], r[1])
        for r in wh.fetchall(
            "select table_name, column_name from information_schema.columns where table_schema = ?",
            (SCHEMA,),
        )
    }
    tables = {t for t, _ in present}
    names = {t.split(".")[1] for t in (STATE, STATUS, RUNS, RESULTS, LEDGER)}
    if not names <= tables:
        zstd = wh.string_compression()
        for stmt in DDL:
            wh.execute(stmt.format(zstd=zstd))
    for table, column, kind in ADDED_COLUMNS:
        if table.split(".")[1] in tables and (table.split(".")[1], column) not in present:
            wh.execute(f"alter table {table} add column if not exists {column} {kind}")


def adopt_legacy_rows(wh: Warehouse, sync_name: str, destination_key: str) -> None:
    """Rows written before destination identity existed belong to today's destination."""
    for table in (STATE, STATUS, LEDGER):
        wh.execute(
            f"update {table} set destination_key = ? where sync_name = ? and destination_key is null",
            (destination_key, sync_name),
        )


def state_exists(wh: Warehouse) -> bool:
    return all(wh.table_exists(SCHEMA, t.split(".")[1]) for t in (STATE, STATUS, LEDGER))


def utc_now() -> datetime:
    """Naive UTC: every ferry_sync timestamp is a portable TIMESTAMP without time zone."""
    return datetime.now(UTC).replace(tzinfo=None)
