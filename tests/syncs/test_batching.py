"""Batching: the column-wise payload sizes equal the per-record measure they replace."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import Capabilities, Operation, Record
from syncs.batching import batches, payload_sizes, record_bytes

text = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["plain", 'quo"te', "back\\slash", "café", "😀", "\n"]),
)
ints = st.one_of(st.none(), st.integers(min_value=-(2**62), max_value=2**62))
floats = st.one_of(st.none(), st.floats(allow_nan=False, width=64))
bools = st.one_of(st.none(), st.booleans())


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(text, ints, floats, bools, text), min_size=1, max_size=20),
    clear=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_payload_sizes_equal_record_bytes(rows, clear):
    names = ["email", "points", "score", "vip", 'naïve "name"']
    types = [pa.string(), pa.int64(), pa.float64(), pa.bool_(), pa.string()]
    columns = [pa.array([r[i] for r in rows], types[i]) for i in range(5)]
    spec = list(zip(names, columns, clear))
    sizes = payload_sizes(spec, len(rows))
    for i, row in enumerate(rows):
        payload = {
            name: row[j]
            for j, (name, keep) in enumerate(zip(names, clear))
            if keep or row[j] is not None
        }
        assert sizes[i] == record_bytes(Record(f"k{i}", Operation.UPSERT, payload))


def test_payload_sizes_of_other_types_fall_back_to_json():
    columns = [
        ("at", pa.array([dt.date(2026, 1, 2), None]), False),
        ("amount", pa.array([Decimal("1.50"), Decimal(-2)], pa.decimal128(10, 2)), True),
    ]
    sizes = payload_sizes(columns, 2)
    assert sizes[0] == record_bytes(
        Record("a", Operation.UPSERT, {"at": dt.date(2026, 1, 2), "amount": Decimal("1.50")})
    )
    assert sizes[1] == record_bytes(Record("b", Operation.UPSERT, {"amount": Decimal("-2.00")}))


def test_batches_use_given_sizes_and_keep_order():
    caps = Capabilities(
        modes=frozenset({"upsert"}),
        identifiers=frozenset({"email"}),
        max_batch_records=3,
        max_batch_bytes=100,
    )
    items = [(Record(f"k{i}", Operation.UPSERT, {}), i, 40) for i in range(7)]
    out = list(batches(items, caps, unique_keys=True, size_of=lambda item: item[2]))
    assert [[seq for _, seq, _ in b] for b in out] == [[0, 1], [2, 3], [4, 5], [6]]
