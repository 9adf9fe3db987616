"""Destinations that take JSON payloads (write_json) get the same records, column-wise."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from connectors.base import BatchAccepted, JsonBatch, Operation, RecordResult
from connectors.json_columns import dumps
from syncs import engine
from syncs.config import FieldMapping
from syncs.records import (
    PAYLOAD_JSON,
    json_payloads,
    payload_json_sql,
    plan_records,
    sql_text_differs,
)
from tests.syncs.conftest import create_warehouse, make_sync, set_audience
from tests.syncs.loopback import LoopbackDestination


@dataclass
class JsonLoopback(LoopbackDestination):
    """The loopback list, fed through write_json; keeps every payload's JSON text."""

    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (key, operation, payload)
    whole: bool = True  # answer BatchAccepted when every record was accepted

    def write_json(self, batch: JsonBatch) -> list[RecordResult] | BatchAccepted:
        self.texts += zip(
            batch.keys.to_pylist(), batch.operations.to_pylist(), batch.payloads.to_pylist()
        )
        results = self.write(batch.records())
        if self.whole and all(r.outcome.value == "accepted" for r in results):
            return BatchAccepted(destination_id="batch-1")
        return results


FIELDS = {
    "first_name": FieldMapping(column="first_name"),
    "entered_at": FieldMapping(column="entered_at", on_null="clear"),
}


def _scenario(conn: duckdb.DuckDBPyConnection, dest: LoopbackDestination) -> list[list]:
    """First sync, then updates (a new e-mail, a name with quotes and non-ASCII, a cleared
    field), removals and an erasure; the records each run sent, as (key, op, payload)."""
    sync = make_sync("mirror", fields=FIELDS)
    sent = []
    rows = [
        (f"p{i}", f"u{i}@x.com", None if i == 3 else f"N{i}", "treatment", "2026-01-01")
        for i in range(8)
    ]
    set_audience(conn, rows)
    for change in range(2):
        start = len(dest.calls)
        r = engine.run(sync, conn, dest)
        assert r.status == "success", r.error
        sent.append(
            sorted(
                (rec.key, rec.operation.value, rec.payload)
                for call in dest.calls[start:]
                for rec in call
            )
        )
        if change == 0:
            rows[1] = ("p1", "new1@x.com", "N1", "treatment", "2026-01-01")
            rows[2] = ("p2", "u2@x.com", 'Zoë "the" \\ one', "treatment", None)
            del rows[5]
            conn.execute(
                "create table marts.erased_profiles (profile_id varchar, erased_at timestamp)"
            )
            conn.execute("insert into marts.erased_profiles values ('p6', now())")
            del rows[5]  # p6
            set_audience(conn, rows)
    return sent


def test_json_payloads_are_the_records_payloads_and_state_is_the_same(tmp_path) -> None:
    plain_conn = duckdb.connect(str(tmp_path / "a.duckdb"))
    json_conn = duckdb.connect(str(tmp_path / "b.duckdb"))
    for c in (plain_conn, json_conn):
        create_warehouse(c)
    plain, columnar = LoopbackDestination(), JsonLoopback()
    expected = _scenario(plain_conn, plain)
    got = _scenario(json_conn, columnar)
    # Removals carry the destination id the destination gave: per record (d-<key>) for the
    # plain loopback, the batch's one id for the JSON one.
    ids = [p.pop("_destination_id", None) for run in got for _, op, p in run if op != "upsert"]
    assert ids and set(ids) == {"batch-1"}
    for run in expected:
        for _, op, p in run:
            if op != "upsert":
                p.pop("_destination_id")
    assert got == expected
    ops = {op for _, op, _ in columnar.texts}
    assert ops == {"upsert", "remove", "delete"}  # every path of the mapping was taken
    by_key = {(k, op): text for k, op, text in columnar.texts}
    assert json.loads(by_key[("p1", "upsert")]).get("_replaced_identifiers") is not None
    for text in by_key.values():
        assert text == dumps(json.loads(text))  # the compact text json.dumps writes
    state = (
        "select record_key, payload_hash, identifiers_json from ferry_sync.sync_state order by 1"
    )
    assert json_conn.execute(state).fetchall() == plain_conn.execute(state).fetchall()
    held = "select distinct destination_id from ferry_sync.sync_state"
    assert json_conn.execute(held).fetchall() == [("batch-1",)]  # the batch's one id, per record


@pytest.mark.parametrize("whole", [True, False])
def test_a_record_rejected_in_a_json_batch_is_settled_alone(conn, whole) -> None:
    set_audience(conn, [(f"p{i}", f"u{i}@x.com", "N", "treatment") for i in range(30)])
    caps = replace(LoopbackDestination().capabilities, max_batch_records=10, max_concurrency=3)
    dest = JsonLoopback(capabilities=caps, whole=whole, reject_keys={"p12"})
    sync = make_sync("mirror")
    r = engine.run(sync, conn, dest)
    assert (r.status, r.sent, r.failed) == ("partial", 29, 1)
    assert engine.plan(sync, conn).counts["add"] == 1  # only the rejected one is left


def test_byte_limits_cut_json_batches_and_a_big_record_travels_alone(conn) -> None:
    rows = [
        (f"p{i:02d}", f"u{i}@x.com", "N" * (900 if i == 7 else 10), "treatment") for i in range(20)
    ]
    set_audience(conn, rows)
    caps = replace(LoopbackDestination().capabilities, max_batch_records=50, max_batch_bytes=300)
    dest = JsonLoopback(capabilities=caps)
    assert engine.run(make_sync("mirror"), conn, dest).sent == 20
    for call in dest.calls:
        size = sum(len(dumps(dict(rec.payload))) + 2 for rec in call)
        assert size <= 300 or len(call) == 1
    assert [len(c) for c in dest.calls if any(r.key == "p07" for r in c)] == [1]


ODD_STRINGS = [
    "plain",
    'quote " and back\\slash / slash',
    "Zoë",
    "emoji 😀",
    "tab\tnew\nline",
    "ctl\x01",
    "ctl\x1a\x0b",  # DuckDB writes \u001A, json.dumps \u001a
    "literal \\u001A",  # no control character: flagged all the same (a false alarm)
    "del\x7f",
    "",
    None,
]


def _plan_rows(
    conn: duckdb.DuckDBPyConnection, sql_columns: str
) -> tuple[pa.Table, dict[str, str]]:
    """Plan-table-shaped rows (the stream columns a chunk carries) with the given payload columns."""
    conn.execute(
        "create or replace temporary table plan_rows as select i as __seq, 'add' as __op, "
        "'k' || i as __key, cast(null as integer) as __attempts, cast(null as varchar) as __ids, "
        "cast(null as varchar) as __dest_id, cast(null as varchar) as __idem, "
        "cast(null as varchar) as __state_hash, cast(null as boolean) as __in_status, "
        f"cast(null as varchar) as __state_ids, {sql_columns} from range(?) t(i)",
        [len(ODD_STRINGS)],
    )
    types = {
        name: kind for name, kind, *_ in conn.execute("describe select * from plan_rows").fetchall()
    }
    return conn.sql("select * from plan_rows order by __seq").to_arrow_table(), types


# "first_name" takes the struct (`to_json({...})`) for rows without a NULL to leave out;
# "first#name" is no plain name, so every row joins its members (`concat_ws`).
@pytest.mark.parametrize("first", ["first_name", "first#name"])
def test_payloads_written_by_duckdb_are_the_bytes_json_dumps_writes(first: str) -> None:
    conn = duckdb.connect()
    conn.execute("create table odd (i bigint, s varchar)")
    conn.executemany("insert into odd values (?, ?)", list(enumerate(ODD_STRINGS)))
    rows, types = _plan_rows(
        conn,
        "(select s from odd where odd.i = t.i) as p__email, "
        f'(select s from odd where odd.i = (t.i + 1) % {len(ODD_STRINGS)}) as "p__{first}", '
        "case when i % 3 = 0 then null else i * 1000000007 - 3 end as p__points, "
        "case when i % 4 = 0 then null else i % 2 = 0 end as p__vip, "
        "case when i % 2 = 0 then null else 'x' end as p__cleared",
    )
    sync = make_sync(
        "mirror",
        fields={
            first: FieldMapping(column="first_name"),
            "points": FieldMapping(column="points"),
            "vip": FieldMapping(column="vip"),
            "cleared": FieldMapping(column="cleared", on_null="clear"),
        },
    )
    expr = payload_json_sql(sync, types)
    assert expr is not None and ("to_json({" in expr) == (first == "first_name")
    written = conn.sql(
        f"select {expr} as {PAYLOAD_JSON} from plan_rows order by __seq"
    ).to_arrow_table()
    # Every row holding a string DuckDB escapes its own way is left to Python (flagged).
    text = written.column(PAYLOAD_JSON).combine_chunks()
    left = pc.or_(pc.is_null(text), pa.array(sql_text_differs(text))).to_pylist()
    assert sum(left) >= 5 and not all(left)
    with_sql = rows.append_column(PAYLOAD_JSON, written.column(PAYLOAD_JSON))
    by_duckdb = json_payloads(sync, with_sql, Operation.DELETE).payloads.to_pylist()
    by_arrow = json_payloads(sync, rows, Operation.DELETE).payloads.to_pylist()
    by_records = [
        dumps(dict(r.payload)) for b in rows.to_batches() for r, *_ in plan_records(sync, b)
    ]
    assert by_duckdb == by_arrow == by_records
    assert (
        json.loads(by_duckdb[1])["cleared"] == "x" and json.loads(by_duckdb[0])["cleared"] is None
    )


def test_kept_nulls_leave_the_struct_text_wherever_they_stand() -> None:
    """A NULL the mapping keeps out of the payload (on_null: keep) is taken out of DuckDB's
    struct text as the first member, a later one, the only one left, or all of them."""
    conn = duckdb.connect()
    rows, types = _plan_rows(
        conn,
        "[null, null, 'e', 'e', null][t.i % 5 + 1] as p__email, "
        "[null, 'x', null, 'x', 'x'][t.i % 5 + 1] as p__first_name, "
        "[null, null, null, 7, 7][t.i % 5 + 1] as p__points",
    )
    sync = make_sync(
        "mirror",
        fields={
            "first_name": FieldMapping(column="first_name"),
            "points": FieldMapping(column="points"),
        },
    )
    expr = payload_json_sql(sync, types)
    assert expr is not None and expr.startswith("to_json({")
    written = conn.sql(f"select {expr} as {PAYLOAD_JSON} from plan_rows order by __seq")
    with_sql = rows.append_column(PAYLOAD_JSON, written.to_arrow_table().column(PAYLOAD_JSON))
    by_duckdb = json_payloads(sync, with_sql, Operation.DELETE).payloads.to_pylist()
    by_records = [
        dumps(dict(r.payload)) for b in rows.to_batches() for r, *_ in plan_records(sync, b)
    ]
    assert by_duckdb == by_records
    assert by_duckdb[:5] == [
        "{}",
        '{"first_name":"x"}',
        '{"email":"e"}',
        '{"email":"e","first_name":"x","points":7}',
        '{"first_name":"x","points":7}',
    ]


def test_types_duckdb_writes_differently_stay_with_python() -> None:
    conn = duckdb.connect()
    sync = make_sync("mirror", fields={"score": FieldMapping(column="score")})
    for column in (
        "1e20::double",
        "12.50::decimal(10, 2)",
        "timestamp '2026-01-02 03:04:05'",
        "'{}'::json",
    ):
        _, types = _plan_rows(conn, f"'e' as p__email, {column} as p__score")
        assert payload_json_sql(sync, types) is None, column


def test_payload_text_with_a_raw_control_byte_is_left_to_python() -> None:
    """DuckDB escapes control characters today; if one ever came through raw, the row
    must still be rebuilt by the Arrow path rather than sent as DuckDB wrote it."""
    text = pa.array(['{"a":"plain"}', '{"a":"tab\there"}', '{"a":"x\\u001Ay"}', None])
    assert sql_text_differs(text).tolist() == [False, True, True, False]
