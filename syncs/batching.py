"""Cut a stream of records into batches within the destination's declared limits.

Why a generator: records arrive from the plan stream a few thousand at a time;
batching lazily keeps memory bounded by (concurrency x batch size), not by the
size of the change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from connectors.base import Capabilities, Record

T = TypeVar("T")


def record_bytes(record: Record) -> int:
    """JSON size of one record's payload (same measure as connectors.base.payload_bytes)."""
    return len(json.dumps(dict(record.payload), default=str)) + 2


def batches(
    items: Iterable[tuple[Record, T]], caps: Capabilities, unique_keys: bool = False
) -> Iterator[list[tuple[Record, T]]]:
    """Batches of at most max_batch_records records and max_batch_bytes bytes.

    A key never appears twice in one batch (results are matched back by key; pass
    `unique_keys=True` when the stream guarantees it, for a faster path), and
    a single record bigger than the byte limit travels alone so the destination can
    reject just that one.
    """
    max_records = max(1, caps.max_batch_records)
    max_bytes = caps.max_batch_bytes
    if unique_keys and not max_bytes:
        # Fast path: the caller guarantees distinct keys and there is no byte limit.
        iterator = iter(items)
        while chunk := list(islice(iterator, max_records)):
            yield chunk
        return
    current: list[tuple[Record, Any]] = []
    keys: set[str] = set()
    size = 0
    for item in items:
        record = item[0]
        nbytes = record_bytes(record) if max_bytes else 0
        full = len(current) >= max_records or (
            max_bytes is not None and current and size + nbytes > max_bytes
        )
        if current and (full or record.key in keys):
            yield current
            current, keys, size = [], set(), 0
        current.append(item)
        keys.add(record.key)
        size += nbytes
    if current:
        yield current
