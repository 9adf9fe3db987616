"""connectors.json_columns: the byte scan that finds strings needing JSON escapes agrees
with the regex it replaced, on every kind of array Arrow hands it."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from connectors.json_columns import NEEDS_ESCAPE, json_text, needs_escape, rows_with_bytes

STRINGS = [
    "plain",
    'quote "',
    "back\\slash",
    "Zoë",
    "emoji 😀",
    "tab\tnew\nline",
    "ctl\x01",
    "del\x7f",
    "",
    None,
    "~ tilde and space",
    "ünïcode at the end é",
]


def _by_regex(column: pa.Array) -> list[bool]:
    return pc.fill_null(pc.match_substring_regex(column, NEEDS_ESCAPE), False).to_pylist()


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_needs_escape_agrees_with_the_regex_on_whole_sliced_and_chunked_arrays(
    kind: pa.DataType,
) -> None:
    column = pa.array(STRINGS * 3, kind)
    assert needs_escape(column).tolist() == _by_regex(column)
    for start, length in [(1, 5), (3, 9), (7, 20), (10, 1), (11, 0)]:
        part = column.slice(start, length)  # an offset into the same buffers
        assert needs_escape(part).tolist() == _by_regex(part), (start, length)
    chunked = pa.chunked_array([column.slice(0, 5), column.slice(5)])
    assert needs_escape(chunked).tolist() == _by_regex(column)
    assert needs_escape(pa.array([], kind)).tolist() == []
    assert needs_escape(pa.array([None, None], kind)).tolist() == [False, False]


def test_rows_with_bytes_maps_each_byte_to_its_row() -> None:
    column = pa.array(["ab", "", None, "xyz", "é"])  # é: two bytes, both >= 0x80
    assert rows_with_bytes(column, lambda b: b == ord("y")).tolist() == [
        False,
        False,
        False,
        True,
        False,
    ]
    assert rows_with_bytes(column, lambda b: b >= 0x80).tolist() == [
        False,
        False,
        False,
        False,
        True,
    ]


def test_json_text_is_json_dumps_for_every_string() -> None:
    column = pa.array(STRINGS)
    assert json_text(column).to_pylist() == [None if s is None else json.dumps(s) for s in STRINGS]


def test_bytes_under_a_null_slot_flag_nothing() -> None:
    """Arrow allows a null slot to span bytes (its validity bit says null): never flagged,
    so json_text keeps it null."""
    data = b'ok"x'
    offsets = pa.py_buffer(np.array([0, 2, 4], dtype=np.int32).tobytes())
    validity = pa.py_buffer(np.packbits([1, 0], bitorder="little").tobytes())
    column = pa.Array.from_buffers(pa.string(), 2, [validity, offsets, pa.py_buffer(data)])
    assert column.to_pylist() == ["ok", None]
    assert needs_escape(column).tolist() == [False, False]
    assert json_text(column).to_pylist() == ['"ok"', None]
