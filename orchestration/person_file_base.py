"""The part of a person-file warehouse that no person file changes, built once.

A person file lands in one source (CRM contacts); every other source of the scratch
warehouse is empty. Of the 55 nodes `ferry fuzzy evaluate-file` builds, 25 never read
the file: the staging models of the empty sources, the steward's seeds, the event
and engagement unions. dbt spends 40-90 ms on each, whatever its rows, so building
them again for every file was 2 s of a 20k-record evaluation.

They are built once per version of the dbt project, on an otherwise empty warehouse
(exactly what each scratch warehouse holds for them), and the file is copied into it:
each evaluation then builds only the nodes downstream of the file's source, with the
same models, the same SQL and the same decisions as a full build (a test compares the
clusters of both). The copy is keyed by a fingerprint of the project: its files, the
dbt version, and the environment variables the project reads; anything else only
costs a rebuild of the base.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import duckdb

# The dbt source a person file lands in, as a selector: the nodes that read it.
FILE_SOURCE = "source:crm.contacts+"
# Folders and files of a dbt project that are dbt's output or local state, not input.
_NOT_INPUT_DIRS = frozenset({"target", "logs", "dbt_packages", "__pycache__"})
_NOT_INPUT_SUFFIXES = (".duckdb", ".wal", ".pyc", ".user.yml")
_ENV_VAR = re.compile(rb"""env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]""")
# Environment variables the person-file build sets itself (dbt_build).
_SET_BY_BUILD = frozenset({"FERRY_DUCKDB_PATH", "FERRY_DBT_TARGET", "FERRY_DBT_PLUGINS_DIR"})


def project_fingerprint(project: Path) -> str:
    """A hash of what a dbt build of ``project`` depends on besides its data: every
    input file (path and bytes), dbt-core's and dbt-duckdb's versions, and the value
    of each environment variable the project reads with env_var()."""
    digest = hashlib.sha256()
    names: set[str] = set()
    for path in sorted(_input_files(project)):
        data = path.read_bytes()
        digest.update(str(path.relative_to(project)).encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
        names.update(m.decode() for m in _ENV_VAR.findall(data))
    for package in ("dbt-core", "dbt-duckdb"):
        digest.update(f"{package}={metadata.version(package)}\0".encode())
    for name in sorted(names - _SET_BY_BUILD):
        digest.update(f"{name}={os.environ.get(name)}\0".encode())
    digest.update(str(project.resolve()).encode())
    return digest.hexdigest()[:20]


def _input_files(project: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(project):
        dirs[:] = [d for d in dirs if d not in _NOT_INPUT_DIRS and not d.startswith(".")]
        files += [
            Path(root) / n
            for n in names
            if not n.endswith(_NOT_INPUT_SUFFIXES) and not n.startswith(".")
        ]
    return files


def base_warehouse(
    stem: str,
    select: tuple[str, ...],
    cache: Path,
    project: Path,
    build: Callable[[Path, Path, tuple[str, ...], tuple[str, ...]], None],
) -> Path:
    """The cached warehouse holding the nodes of ``select`` that do not read the file
    (FILE_SOURCE), built on empty sources into a database named ``stem`` (dbt's
    relation names carry it); built now if this project version has none.

    ``build(database, workdir, select, exclude)`` runs dbt. A new base replaces older
    ones of the same name; it is written whole (os.replace), so concurrent
    evaluations never read a half-written one."""
    path = cache / f"{stem}.base-{project_fingerprint(project)}.duckdb"
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ferry-person-file-base-") as tmp:
        database = Path(tmp) / f"{stem}.duckdb"
        with duckdb.connect(str(database)) as con:
            con.execute("create schema raw")
        build(database, Path(tmp), select, (FILE_SOURCE,))
        with duckdb.connect(str(database)) as con:
            con.execute("checkpoint")
        scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        shutil.copyfile(database, scratch)
        os.replace(scratch, path)
    for old in cache.glob(f"{stem}.base-*.duckdb"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def file_nodes(select: tuple[str, ...]) -> tuple[str, ...]:
    """The nodes of ``select`` that read the file: what each evaluation builds on a
    copy of the base (dbt selector intersections)."""
    return tuple(f"{FILE_SOURCE},{s}" for s in select)
