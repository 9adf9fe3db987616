"""JSON text of Arrow columns, computed column-wise: no Python object per value.

Why: at a million records, `json.dumps` of one dict per record (and the dict itself)
was most of a sync's CPU. Arrow kernels write the common values (printable ASCII
strings, integers, booleans) straight into JSON text; anything else (escapes,
non-ASCII, floats, dates, decimals) falls back to `json.dumps` for that value only,
so the text is byte for byte what `json.dumps(value, default=json_default)` writes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# A string whose JSON text is itself plus two quotes: printable ASCII without `"` or `\`.
NEEDS_ESCAPE = r"[^\x20-\x21\x23-\x5b\x5d-\x7e]"


def rows_with_bytes(
    column: pa.Array | pa.ChunkedArray, flag: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """A boolean per row of a string array: does its UTF-8 text hold a byte `flag` marks?
    (`flag`: a uint8 array -> a boolean array of its size; a null row is never flagged.)

    Why bytes in numpy: one vectorised pass over the array's data buffer, where Arrow's
    regex kernel took ~50 ms per 877k short strings and its substring search ~135 ms."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    n = len(column)
    flagged = np.zeros(n, dtype=bool)
    if not n:
        return flagged
    width = np.int64 if pa.types.is_large_string(column.type) else np.int32
    _validity, offsets_buf, data_buf = column.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=width)[column.offset : column.offset + n + 1]
    if data_buf is None or offsets[-1] == offsets[0]:
        return flagged
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
    at = np.flatnonzero(flag(data))
    if len(at):
        # Byte positions -> rows: the last row starting at or before each position.
        flagged[np.searchsorted(offsets, at + offsets[0], side="right") - 1] = True
        if column.null_count:  # Arrow allows bytes under a null slot: never flag one
            flagged &= pc.is_valid(column).to_numpy(zero_copy_only=False)
    return flagged


def needs_escape(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    r"""Rows whose JSON text is not the string plus two quotes (NEEDS_ESCAPE): a byte that
    is not printable ASCII, or `"` or `\`."""
    return rows_with_bytes(column, lambda b: (b < 0x20) | (b > 0x7E) | (b == 0x22) | (b == 0x5C))


def json_default(value: Any) -> Any:
    """What JSON cannot hold natively: dates and times as ISO-8601, anything else as str."""
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return str(value)


def dumps(value: Any) -> str:
    """One value or object as compact JSON text (the same text the column-wise path writes)."""
    return json.dumps(value, default=json_default, separators=(",", ":"))


def json_text(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """JSON text of every value of `column` (a string array); null where the value is null."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    t = column.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        column = column.cast(pa.string())
        quoted = pc.binary_join_element_wise('"', column, '"', "")
        odd = needs_escape(column)
        if not odd.any():
            return quoted
        return _replace_where(quoted, pa.array(odd), column)
    if pa.types.is_integer(t):
        return pc.cast(column, pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(column, "true", "false")
    if pa.types.is_null(t):
        return pa.nulls(len(column), pa.string())
    return pa.array([None if v is None else dumps(v) for v in column.to_pylist()], pa.string())


def _replace_where(quoted: pa.Array, mask: pa.Array, column: pa.Array) -> pa.Array:
    """`quoted`, with the values under `mask` written by json.dumps instead (escapes)."""
    odd_values = column.filter(mask).to_pylist()
    return pc.replace_with_mask(quoted, mask, pa.array([dumps(v) for v in odd_values], pa.string()))


def json_objects(members: list[tuple[str, pa.Array]], num_rows: int) -> pa.Array:
    """`{"name":value,...}` per row from (name, JSON text column) pairs; a null value leaves
    its member out (write the text `null` to keep it). Member order is the list's."""
    if not members:
        return pa.array(["{}"] * num_rows, pa.string())
    parts = []
    for name, text in members:
        # Each member carries its trailing comma; a left-out member is the empty string.
        parts.append(
            pc.fill_null(pc.binary_join_element_wise(dumps(name) + ":", text, ",", ""), "")
        )
    body = pc.binary_join_element_wise(*parts, "")
    # The last member's comma: a value never ends with a bare comma (strings end with `"`).
    body = pc.utf8_rtrim(body, characters=",")
    return pc.binary_join_element_wise("{", body, "}", "")


def concat_text(items: pa.Array, head: bytes = b"", tail: bytes = b"", drop_last: int = 0) -> bytes:
    """`head`, every item's UTF-8 bytes back to back, `tail`: the array's own data buffer
    between them, without the last `drop_last` bytes (e.g. the separator each item ends
    with). One copy: no list, no Python string per item, no joined intermediate."""
    if len(items) == 0:
        return head + tail
    if items.null_count:
        raise ValueError("concat_text: a null item has no text")
    if not pa.types.is_string(items.type):
        items = items.cast(pa.string())
    _, offsets, data = items.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32, count=len(items) + 1, offset=items.offset * 4)
    start, end = int(bounds[0]), int(bounds[-1]) - drop_last
    return b"".join((head, memoryview(data)[start:end], tail))
