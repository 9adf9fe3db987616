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
clusters of both). The copy is keyed by a fingerprint of the project: its files (dbt's output and logs
aside), the dbt and DuckDB versions, and the environment variables the project reads;
anything else only costs a rebuild of the base. One lock per cache entry serialises
building, copying and dropping old bases, so concurrent evaluations never copy a base
another is deleting; a base whose project changed while it was built serves that run
only, and one that cannot be opened is rebuilt.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import duckdb

# The dbt source a person file lands in, as a selector: the nodes that read it.
FILE_SOURCE = "source:crm.contacts+"
# Top-level folders of a dbt project that hold dbt's output or logs, not input.
_OUTPUT_DIRS = frozenset({"target", "logs"})
_NOT_INPUT_SUFFIXES = (".duckdb", ".wal", ".pyc", ".user.yml")
_ENV_VAR = re.compile(rb"""env_var\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*[,)]""")
_ANY_ENV_VAR = re.compile(rb"env_var\(")
# Environment variables the person-file build sets itself (dbt_build).
_SET_BY_BUILD = frozenset({"FERRY_DUCKDB_PATH", "FERRY_DBT_TARGET", "FERRY_DBT_PLUGINS_DIR"})


def project_fingerprint(project: Path) -> str:
    """A hash of what a dbt build of ``project`` depends on besides its data: every
    input file (path and bytes, symlinked folders and installed packages included),
    dbt-core's, dbt-duckdb's and DuckDB's versions, and the value of each environment
    variable the project reads with env_var(); every FERRY_ and DBT_ variable when a
    name is computed rather than written out."""
    digest = hashlib.sha256()
    names: set[str] = set()
    computed = False
    for path in sorted(_input_files(project)):
        data = path.read_bytes()
        digest.update(str(path.relative_to(project)).encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
        literal = _ENV_VAR.findall(data)
        names.update(m.decode() for m in literal)
        computed = computed or len(_ANY_ENV_VAR.findall(data)) > len(literal)
    if computed:
        names.update(n for n in os.environ if n.startswith(("FERRY_", "DBT_")))
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{package}={metadata.version(package)}\0".encode())
    for name in sorted(names - _SET_BY_BUILD):
        digest.update(f"{name}={os.environ.get(name)}\0".encode())
    digest.update(str(project.resolve()).encode())
    return digest.hexdigest()[:20]


def _input_files(project: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(project, followlinks=True):
        top = Path(root) == project
        dirs[:] = [
            d
            for d in dirs
            if not (top and d in _OUTPUT_DIRS) and d != "__pycache__" and not d.startswith(".")
        ]
        files += [
            Path(root) / n
            for n in names
            if not n.endswith(_NOT_INPUT_SUFFIXES) and not n.startswith(".")
        ]
    return files


@contextmanager
def _locked(cache: Path, stem: str) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{stem}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _opens(path: Path) -> bool:
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            con.execute("select 1 from information_schema.schemata limit 1")
        return True
    except duckdb.Error:
        return False


def copy_base(
    database: Path,
    select: tuple[str, ...],
    cache: Path,
    project: Path,
    build: Callable[[Path, Path, tuple[str, ...], tuple[str, ...]], None],
) -> bool:
    """Make ``database`` a copy of the base: the nodes of ``select`` that do not read
    the file (FILE_SOURCE), built on empty sources into a database of the same name
    (dbt's relation names carry it). Built now if this project version has none cached.
    Returns whether a cached base was used.

    ``build(database, workdir, select, exclude)`` runs dbt. A new base replaces older
    ones of the same name."""
    stem = database.stem
    with _locked(cache, stem):
        key = project_fingerprint(project)
        path = cache / f"{stem}.base-{key}.duckdb"
        if path.is_file():
            shutil.copyfile(path, database)
            if _opens(database):
                return True
            path.unlink()  # damaged, or written by another DuckDB: rebuilt below
        with tempfile.TemporaryDirectory(prefix="ferry-person-file-base-") as tmp:
            built = Path(tmp) / f"{stem}.duckdb"
            with duckdb.connect(str(built)) as con:
                con.execute("create schema raw")
            build(built, Path(tmp), select, (FILE_SOURCE,))
            with duckdb.connect(str(built)) as con:
                con.execute("checkpoint")
            shutil.copyfile(built, database)
            if project_fingerprint(project) != key:
                return False  # the project changed during the build: this run's only
            scratch = path.with_name(f"{path.name}.tmp")
            shutil.copyfile(built, scratch)
            os.replace(scratch, path)
        for old in cache.glob(f"{glob.escape(stem)}.base-*.duckdb*"):
            if old != path:
                old.unlink(missing_ok=True)
        return False


def file_nodes(select: tuple[str, ...]) -> tuple[str, ...]:
    """The nodes of ``select`` that read the file: what each evaluation builds on a
    copy of the base (dbt selector intersections)."""
    return tuple(f"{FILE_SOURCE},{s}" for s in select)
