"""One sync run in a child process, for the fault harness (which may kill it with SIGKILL).

    python -m tests.faults.child <duckdb file> <sync json> <destination spec json>

Prints the run's result as JSON on the last line of stdout.
"""

from __future__ import annotations

import json
import sys

import duckdb

from syncs import engine
from syncs.config import SyncConfig
from syncs.registry import build_destination


def main(argv: list[str]) -> int:
    db, sync_json, destination_json = argv
    sync = SyncConfig.model_validate_json(sync_json)
    destination = build_destination(json.loads(destination_json), sync=sync)
    conn = duckdb.connect(db)
    try:
        result = engine.run(sync, conn, destination, confirm=True)
    finally:
        conn.close()
    print(json.dumps(result.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
