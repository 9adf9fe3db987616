"""Cut a stream of records into batches within the destination's declared limits.

Why a generator: records arrive from the plan stream a few thousand at a time;
batching lazily keeps memory bounded by (concurrency x batch size), not by the
size of the change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from connectors.base import Capabilities, Record
from connectors.json_columns import needs_escape

T = TypeVar("T")


def record_bytes(record: Record) -> int:
    """JSON size of one record's payload (same measure as connectors.base.payload_bytes)."""
    return len(json.dumps(dict(record.payload), default=str)) + 2


def _value_sizes(column: pa.Array) -> list[int | None]:
    """len(json.dumps(value, default=str)) of every value of `column`; None where null.

    Why column-wise: one json.dumps per record was ~15% of a full sync's time. Plain
    ASCII strings and integers are measured with Arrow kernels; anything else
    (escapes, non-ASCII, floats, dates, decimals) falls back to json.dumps per value.
    """
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        quick = pc.add(pc.binary_length(column), 2).to_pylist()
        odd = needs_escape(column.cast(pa.string())).tolist()
        if any(odd):
            values = column.to_pylist()
            for i, flag in enumerate(odd):
                if flag:
                    quick[i] = len(json.dumps(values[i]))
        return quick
    if pa.types.is_integer(t):
        return pc.utf8_length(pc.cast(column, pa.string())).to_pylist()
    if pa.types.is_boolean(t):
        return pc.if_else(column, 4, 5).to_pylist()
    if pa.types.is_null(t):
        return [None] * len(column)
    return [None if v is None else len(json.dumps(v, default=str)) for v in column.to_pylist()]


def payload_sizes(columns: Sequence[tuple[str, pa.Array, bool]], num_rows: int) -> list[int]:
    """`record_bytes` of the payloads {name: value} built from `columns`, without building them.

    `columns`: (field name, Arrow column, keep_null) in payload order; a null value is
    left out of the payload unless keep_null (then it is sent as null).
    """
    total = [4] * num_rows  # "{}" + record_bytes' 2
    present = [0] * num_rows
    for name, column, keep_null in columns:
        key = len(json.dumps(name)) + 2  # "name": (json.dumps writes ": ")
        for i, size in enumerate(_value_sizes(column)):
            if size is None:
                if not keep_null:
                    continue
                size = 4  # null
            total[i] += key + size
            present[i] += 1
    # json.dumps separates items with ", ".
    return [t + 2 * (n - 1) if n > 1 else t for t, n in zip(total, present)]


def batches(
    items: Iterable[T],
    caps: Capabilities,
    unique_keys: bool = False,
    size_of: Callable[[T], int] | None = None,
) -> Iterator[list[T]]:
    """Batches of at most max_batch_records records and max_batch_bytes bytes.

    Items are tuples whose first element is the Record. A key never appears twice
    in one batch (results are matched back by key; pass `unique_keys=True` when the
    stream guarantees it, for a faster path), and a single record bigger than the
    byte limit travels alone so the destination can reject just that one. Batches
    keep the stream's order and cut it into consecutive runs. `size_of` gives an
    item's bytes when already known (default: `record_bytes` of its record).
    """
    max_records = max(1, caps.max_batch_records)
    max_bytes = caps.max_batch_bytes
    if unique_keys and not max_bytes:
        # Fast path: the caller guarantees distinct keys and there is no byte limit.
        iterator = iter(items)
        while chunk := list(islice(iterator, max_records)):
            yield chunk
        return
    measure: Callable[[Any], int] = size_of or (lambda item: record_bytes(item[0]))
    current: list[Any] = []
    keys: set[str] = set()
    size = 0
    for item in items:
        record = item[0]
        nbytes = measure(item) if max_bytes else 0
        full = len(current) >= max_records or (
            max_bytes is not None and current and size + nbytes > max_bytes
        )
        if current and (full or (not unique_keys and record.key in keys)):
            yield current
            current, keys, size = [], set(), 0
        current.append(item)
        if not unique_keys:
            keys.add(record.key)
        size += nbytes
    if current:
        yield current
