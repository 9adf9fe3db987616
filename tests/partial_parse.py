"""dbt's partial parse, shared between test runs of the project with the same settings.

Why: a full parse of the project costs several seconds of CPU per dbt invocation,
and dbt reuses `target/partial_parse.msgpack` only when the vars, the `--target` and
the profile's connection values are the same; for DuckDB that includes the file path
as written. So tests pass their warehouse as a bare file name (the same name, each in
its own folder, dbt's working directory) and seed a new target folder with the parse
an earlier run of the same settings saved. dbt still checks the state and every
file's checksum itself: a stale seed costs a reparse, never a wrong result.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

MSGPACK = "partial_parse.msgpack"
_CACHE = Path(tempfile.mkdtemp(prefix="ferry-dbt-parse-"))
atexit.register(shutil.rmtree, _CACHE, True)


def key(project: Path, dbt_vars: dict[str, Any], target: str, duckdb_name: str = "") -> str:
    """What dbt's partial-parse state check compares, for one project."""
    return json.dumps([str(project), dbt_vars, target, duckdb_name], sort_keys=True)


def _saved(settings: str) -> Path:
    return _CACHE / f"{hashlib.sha256(settings.encode()).hexdigest()[:20]}.msgpack"


def seed(target: Path, settings: str) -> None:
    """Give a target folder without a parse the one saved for the same settings."""
    saved, mine = _saved(settings), target / MSGPACK
    if saved.exists() and not mine.exists():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, mine)


def save(target: Path, settings: str) -> None:
    """Keep the parse a finished run left in `target` for later runs (first one wins)."""
    mine, saved = target / MSGPACK, _saved(settings)
    if mine.exists() and not saved.exists():
        part = saved.with_suffix(f".{threading.get_ident()}.part")
        shutil.copyfile(mine, part)
        os.replace(part, saved)
