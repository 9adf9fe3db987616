"""Rows of a materialized plan (Arrow) -> the Records a destination receives.

Why its own module: the same mapping feeds the dry run's masked sample and the
stream a run sends, so a preview shows exactly the payloads a run would send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.base import REPLACED_IDENTIFIERS, Capabilities, JsonBatch, Operation, Record
from connectors.json_columns import dumps, json_objects, json_text, rows_with_bytes
from syncs.batching import payload_sizes, record_bytes
from syncs.config import SyncConfig
from syncs.plan_sql import LEAVING_OPS, field_alias

# The same mapping in SQL, for results written straight from the plan table.
OPERATION_SQL = (
    "case p.__op when 'remove' then 'remove' when 'send' then 'send' "
    "when 'delete' then 'delete' when 'erase' then 'delete' else 'upsert' end"
)

_OPERATIONS = {
    "add": Operation.UPSERT,
    "update": Operation.UPSERT,
    "remove": Operation.REMOVE,
    "send": Operation.SEND,
    "delete": Operation.DELETE,
}


def erase_operation(caps: Capabilities | None) -> Operation:
    """How an erased person leaves a destination: deleted where it can delete a person
    (SendGrid contacts), else removed (ad audiences, whose only erasure is removal)."""
    return Operation.DELETE if caps is None or "delete" in caps.modes else Operation.REMOVE


# Payload key an update carries when an identifier changed since the destination last
# accepted the record (e.g. a new e-mail address): the identifiers it held before, so
# the destination can take the old contact out (see connectors.base.REPLACED_IDENTIFIERS).
REPLACED = REPLACED_IDENTIFIERS

# An item of the stream: (Record for the destination, its __seq in the plan table, its JSON size,
# flags: HELD if sync_state has a row for it, FAILING if record_status has one). Everything else
# the commit needs stays in the plan table and is joined there in SQL.
Item = tuple[Record, int, int, int]
HELD, FAILING = 1, 2


def plan_records(
    sync: SyncConfig,
    batch: pa.RecordBatch,
    sizes: bool = False,
    erase_as: Operation = Operation.DELETE,
) -> Iterator[Item]:
    """Arrow rows of the plan -> (Record, __seq, bytes, flags); bytes is 0 unless `sizes`."""
    payload_columns = sync.payload_columns()
    arrow_fields = [
        (name, batch.column(f"p__{name}"), on_null == "clear")
        for name, (_c, on_null) in payload_columns.items()
    ]
    cols = {
        name: batch.column(name).to_pylist()
        for name in ("__op", "__key", "__attempts", "__ids", "__dest_id", "__idem", "__state_ids")
    }
    fields = [(name, column.to_pylist(), clear) for name, column, clear in arrow_fields]
    identifiers = set(sync.identifiers)
    ops, keys, attempts_col = cols["__op"], cols["__key"], cols["__attempts"]
    ids_col, dest_col, idem_col = cols["__ids"], cols["__dest_id"], cols["__idem"]
    state_ids_col = cols["__state_ids"]
    n = batch.num_rows
    seqs = (
        batch.column("__seq").to_pylist()
        if "__seq" in batch.schema.names
        else list(range(1, n + 1))
    )
    variants = batch.column("__variant").to_pylist() if "__variant" in batch.schema.names else None
    # Upsert payloads are measured column-wise (see batching.payload_sizes); others one by one.
    upsert_sizes = payload_sizes(arrow_fields, n) if sizes else None
    held = pc.cast(pc.is_valid(batch.column("__state_hash")), pa.int8())
    failing = pc.cast(pc.fill_null(batch.column("__in_status"), False), pa.int8())
    flags = pc.add(pc.multiply(held, HELD), pc.multiply(failing, FAILING)).to_pylist()
    for i in range(n):
        op = ops[i]
        dest_id = dest_col[i]
        if op in LEAVING_OPS:
            payload = json.loads(ids_col[i] or "{}")
        else:
            payload = {name: col[i] for name, col, clear in fields if clear or col[i] is not None}
            if op == "delete":
                payload = {k: v for k, v in payload.items() if k in identifiers}
            elif op == "send":
                # Attribution travels with the message (SendGrid custom_args, Twilio tags), so
                # engagement coming back can be tied to the sync, audience and A/B variant.
                payload["ferry_sync"] = sync.name
                payload["ferry_audience"] = sync.audience
                if variants is not None and variants[i] is not None:
                    payload["ferry_variant"] = variants[i]
            elif op == "update" and state_ids_col[i] and state_ids_col[i] != ids_col[i]:
                before = _replaced(json.loads(state_ids_col[i]), payload, identifiers)
                if before:
                    payload[REPLACED] = before
        if dest_id and op in ("remove", "delete", "erase"):
            payload["_destination_id"] = dest_id
        # Positional: a third cheaper than keywords, per record (key, operation, payload,
        # idempotency_key, attempt: the field order of connectors.base.Record).
        record = Record(
            keys[i],
            erase_as if op == "erase" else _OPERATIONS[op],
            payload,
            idem_col[i] if op == "send" else None,
            (attempts_col[i] or 0) + 1,
        )
        if upsert_sizes is None:
            size = 0
        elif op in ("add", "update"):
            size = upsert_sizes[i]
        else:
            size = record_bytes(record)
        yield record, seqs[i], size, flags[i]


def _replaced(
    before: dict[str, Any], payload: dict[str, Any], identifiers: set[str]
) -> dict[str, Any]:
    """The identifiers the destination holds that this update changes (empty: none)."""
    changed = {
        k: v
        for k, v in before.items()
        if k in identifiers and v not in (None, "") and payload.get(k) != v
    }
    return before if changed else {}


# ---- the column-wise path: plan rows -> JSON payloads, for destinations with write_json


@dataclass
class ArrowBatch:
    """One batch of consecutive plan rows as columns (connectors.base.JsonBatch), for a
    destination that takes JSON payloads: no Record is built unless it answers per record."""

    json: JsonBatch
    rows: pa.Table  # the plan rows (stream columns), to build Items on the slow path
    lo: int  # first and last __seq: a batch is a run of consecutive plan rows
    hi: int
    held: bool  # some row has a sync_state row (HELD)
    failing: bool  # some row has a record_status row (FAILING)

    def __len__(self) -> int:
        return self.rows.num_rows

    def items(self, sync: SyncConfig, erase_as: Operation) -> list[Item]:
        """The same rows as Items (Records), for per-record answers and payload faults."""
        return [
            item for b in self.rows.to_batches() for item in plan_records(sync, b, False, erase_as)
        ]


_OP_NAMES = pa.array(list(_OPERATIONS) + ["erase"], pa.string())


def json_payloads(sync: SyncConfig, rows: pa.Table, erase_as: Operation) -> JsonBatch:
    """The plan rows as a JsonBatch whose payloads are the text `plan_records` would build.

    Adds and updates (the bulk of a run) are written column-wise; the rest (removals,
    deletes, sends, an update carrying `_replaced_identifiers`) through `plan_records`,
    row by row, so both paths stay one mapping.
    """

    def col(name: str) -> pa.Array:
        return rows.column(name).combine_chunks()

    op = col("__op")
    if PAYLOAD_JSON in rows.column_names:
        # Written by the warehouse (payload_json_sql); rows it may write otherwise than
        # json.dumps (sql_text_differs) are written here.
        payloads = col(PAYLOAD_JSON)
        left = pc.or_(pc.is_null(payloads), pa.array(sql_text_differs(payloads)))
        payloads = _drop_kept_nulls(sync, rows, payloads)
        if pc.any(left).as_py():
            payloads = pc.replace_with_mask(
                payloads, left, _column_payloads(sync, rows.filter(left))
            )
    else:
        payloads = _column_payloads(sync, rows)
    ids, state_ids = col("__ids"), col("__state_ids")
    replaced = pc.and_(
        pc.equal(op, "update"),
        pc.and_(pc.not_equal(state_ids, ""), pc.not_equal(state_ids, ids)),
    )
    slow = pc.or_(
        pc.invert(pc.is_in(op, value_set=pa.array(["add", "update"]))),
        pc.fill_null(replaced, False),
    )
    if pc.any(slow).as_py():
        built = [
            dumps(dict(record.payload))
            for b in rows.filter(slow).to_batches()
            for record, *_ in plan_records(sync, b, False, erase_as)
        ]
        payloads = pc.replace_with_mask(payloads, slow, pa.array(built, pa.string()))
    operations = pa.array(
        [o.value for o in _OPERATIONS.values()] + [erase_as.value], pa.string()
    ).take(pc.index_in(op, value_set=_OP_NAMES))
    attempts = pc.add(pc.fill_null(col("__attempts"), 0), 1)
    return JsonBatch(col("__key"), operations, payloads, attempts)


def _column_payloads(sync: SyncConfig, rows: pa.Table) -> pa.Array:
    """Upsert payloads (identifiers + mapped fields) as JSON text, written by Arrow kernels."""
    members = []
    for name, (_c, on_null) in sync.payload_columns().items():
        text = json_text(rows.column(f"p__{name}").combine_chunks())
        members.append((name, pc.fill_null(text, "null") if on_null == "clear" else text))
    return json_objects(members, rows.num_rows)


# ---- the same payload text written by DuckDB, in C++, as the plan rows are read

PAYLOAD_JSON = "__payload_json"

# DuckDB types whose to_json() text is what json.dumps writes for the value Arrow hands to
# Python: strings (but see sql_text_differs), integers, booleans. Not floats (DuckDB writes 1e20 as
# 100000000000000000000.0, Python 1e+20), decimals (a number in DuckDB, a string here),
# timestamps (a space, not ISO's T), JSON (DuckDB embeds it, json.dumps quotes it), ...
_SQL_JSON_TYPES = frozenset(
    {"VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)
# Text DuckDB writes differently from json.dumps: non-ASCII and DEL raw (json.dumps escapes
# them), and some control characters' escapes with capital hex digits (\u001A, not \u001a).
# Found in the bytes DuckDB wrote (`sql_text_differs`), so the query carries no check.
# Field names a DuckDB struct literal turns into the very JSON key json.dumps writes.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_ .:/@$-]+")


def sql_text_differs(payloads: pa.Array) -> np.ndarray:
    """Rows of DuckDB-written payload text (`payload_json_sql`) that may differ from what
    json.dumps writes: a byte >= 0x7f (non-ASCII, DEL), any backslash (escapes: most are
    written alike, and a false alarm only costs that row the Arrow path), or a raw control
    byte (DuckDB escapes them today; a version that did not would otherwise go unchecked).

    Why bytes (connectors.json_columns.rows_with_bytes): Arrow's substring kernels took
    0.6 s of CPU over the 877,511 payloads of a 1M-member plan, this ~0.1 s."""
    return rows_with_bytes(payloads, lambda b: (b < 0x20) | (b >= 0x7F) | (b == 0x5C))


def payload_json_sql(sync: SyncConfig, column_types: Mapping[str, str]) -> str | None:
    """A DuckDB expression for each plan row's upsert payload as JSON text, byte for byte
    what `_column_payloads` (and json.dumps of the Record's payload) writes, except in rows
    `sql_text_differs` flags (json_payloads writes those). None when a payload column's type
    is not one DuckDB writes the same way (`column_types`: plan column -> DuckDB type name).

    Why: building payload text was the biggest share of the chunk builder's CPU (one thread,
    holding the GIL between kernels); DuckDB writes it while it reads the chunk. A row with
    payload is one `to_json` of a struct (keys written once per query, not per row), NULLs
    included: `_drop_kept_nulls` takes out those the mapping keeps out, in Arrow, in the rows
    that have them (a CASE choosing per row cost DuckDB more than the struct saved).
    Field names a struct cannot key exactly (`_PLAIN_NAME`) join their members with
    `concat_ws` instead (kept NULLs left out there). Measured on the 877,511 rows of a
    1M-member plan, one thread: 1.11 s of CPU with a regexp per string column and
    `concat_ws`, 0.47 s as a struct; in a run, reads and builds together 1.35-1.44 s ->
    1.06-1.14 s (the Arrow side's checks cost ~0.25 s of what the query saves).
    """
    members, pairs = [], []
    for name, (_c, on_null) in sync.payload_columns().items():
        column = f"p__{name}"
        kind = column_types.get(column, "").upper()
        if kind not in _SQL_JSON_TYPES:
            return None
        alias = field_alias(name)
        value = f"to_json({alias})"
        if on_null == "clear":
            value = f"coalesce({value}, 'null')"
        key = (dumps(name) + ":").replace("'", "''")
        members.append(f"'{key}' || {value}")  # NULL (a kept null): left out by concat_ws
        pairs.append((name, f"'{name}': {alias}"))
    if not members:
        return "'{}'"
    names = [name for name, _ in pairs]
    plain = all(_PLAIN_NAME.fullmatch(n) for n in names)
    # DuckDB's struct keys are case-insensitive: names differing only in case stay joined.
    if plain and len({n.lower() for n in names}) == len(names):
        return f"to_json({{{', '.join(pair for _, pair in pairs)}}})"
    return f"'{{' || concat_ws(',', {', '.join(members)}) || '}}'"


def _drop_kept_nulls(sync: SyncConfig, rows: pa.Table, payloads: pa.Array) -> pa.Array:
    """Take `"name":null` out of DuckDB-written text (`payload_json_sql`'s struct writes every
    member) where the mapping keeps a NULL out of the payload (`on_null: keep`), only in the
    rows where that column is NULL. Members are taken out in field order, so the one to go is
    either the first left (after `{`) or after a comma; a quote after `{` or `,` is never
    inside a string (JSON writes it there as \\"), so the match is always the member."""
    for name, (_c, on_null) in sync.payload_columns().items():
        if on_null == "clear":
            continue
        column = rows.column(f"p__{name}")
        if not column.null_count:  # known without a pass over the column
            continue
        null = pc.is_null(column.combine_chunks())
        member = dumps(name) + ":null"
        text = payloads.filter(null)
        for old, new in (("{" + member + ",", "{"), ("{" + member + "}", "{}"), ("," + member, "")):
            text = pc.replace_substring(text, old, new, max_replacements=1)
        payloads = pc.replace_with_mask(payloads, null, text)
    return payloads


def arrow_batches(
    sync: SyncConfig, chunk: pa.Table, caps: Capabilities, erase_as: Operation
) -> list[ArrowBatch]:
    """A chunk of plan rows cut into batches within the destination's limits (records, and
    payload bytes measured as `record_bytes` measures them: JSON text + 2)."""
    n = chunk.num_rows
    if not n:
        return []
    whole = json_payloads(sync, chunk, erase_as)
    seqs = chunk.column("__seq").to_numpy()
    held = pc.is_valid(chunk.column("__state_hash")).to_numpy(zero_copy_only=False)
    failing = pc.fill_null(chunk.column("__in_status"), False).to_numpy(zero_copy_only=False)
    max_records = max(1, caps.max_batch_records)
    bounds = []
    if caps.max_batch_bytes:
        sizes = pc.add(pc.binary_length(whole.payloads), 2).to_numpy()
        ends = np.cumsum(sizes)
        start = 0
        while start < n:
            base = ends[start - 1] if start else 0
            fit = int(np.searchsorted(ends, base + caps.max_batch_bytes, side="right"))
            end = min(start + max_records, max(fit, start + 1))  # one too big travels alone
            bounds.append((start, end))
            start = end
    else:
        bounds = [(s, min(s + max_records, n)) for s in range(0, n, max_records)]
    out = []
    for start, end in bounds:
        k = end - start
        out.append(
            ArrowBatch(
                JsonBatch(
                    whole.keys.slice(start, k),
                    whole.operations.slice(start, k),
                    whole.payloads.slice(start, k),
                    whole.attempts.slice(start, k),
                ),
                chunk.slice(start, k),
                int(seqs[start]),
                int(seqs[end - 1]),
                bool(held[start:end].any()),
                bool(failing[start:end].any()),
            )
        )
    return out
