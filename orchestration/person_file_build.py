"""A person file measured through the warehouse: the one matching path.

`ferry fuzzy evaluate-file` used to run a matcher of its own (EM re-trained on the
file, broader blocking, threshold 0.95, no contradictions, no customer ids), so its
figure said nothing about what a build does with the same records. Here the file
becomes what a customer would land: `raw.crm_contacts` (contact ids are record ids,
so duplicates inside it may merge) of a scratch DuckDB warehouse, with the file's
true clusters as `raw.ground_truth`. The same `dbt build` as production makes the
identity graph (same blocking, committed model with u and prior re-estimated on
these records, same threshold, contradictions, hub limits, review queue), and
`identity.evaluation.evaluate` scores `marts.customer_identifiers`, exactly as
`ferry evaluate` scores a generated warehouse.

Bad input is named, never dropped: a missing or duplicated record id stops with the
row; an impossible birth date (20241341) loads the row without a birth date and is
reported; a row without any name is flagged by the CRM's quarantine (no_name).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from identity.evaluation import EvaluationResult, evaluate
from identity.fuzzy.person_file import (
    KNOWN_ID_COLUMNS,
    PersonFileError,
    read_person_file,
    to_person_records,
    true_clusters,
)
from orchestration.paths import DBT_PROJECT_DIR, ferry_home
from orchestration.person_file_base import copy_base, file_nodes
from orchestration.sources.registry import load_registry, record_id_namespaces

SOURCE = "crm_contacts"
# What the build selects: everything customer_identifiers needs (staging, identity
# graph, fuzzy links and their decisions, the steward's seeds), no data tests.
SELECT = ("+customer_identifiers", "+fuzzy_review_queue")
# A fixed load and edit time: the file has none, and a constant keeps runs identical.
LOADED_AT = dt.datetime(2000, 1, 1)
# Person columns a CRM contact carries (the int_person_records contract).
CONTACT_COLUMNS = ("first_name", "last_name", "email", "phone", "street", "city", "postcode")
_COMPACT_DATE = re.compile(r"\d{8}")
# A file's national id column (FEBRL names it soc_sec_id): the CRM's optional
# national_id identifier, a deterministic link and a contradiction when two differ.
NATIONAL_ID_COLUMNS = ("national_id", "soc_sec_id")


@dataclass(frozen=True)
class WarehouseFileEvaluation:
    """The warehouse's figure for one person file, and what it made of each record."""

    evaluation: EvaluationResult
    clusters: pa.Table  # (source_record_id, profile_id), one row per record of the file
    fuzzy_merges: int  # pairs int_fuzzy_link_decisions merged
    review_queue: int  # pairs waiting in marts.fuzzy_review_queue
    flagged: dict[str, list[int]] = field(default_factory=dict)  # reason -> file rows (1-based)
    ignored_columns: list[str] = field(default_factory=list)
    build_seconds: float = 0.0


def parse_birth_date(value: str | None) -> tuple[dt.date | None, bool]:
    """(date, ok): YYYYMMDD (FEBRL) or ISO YYYY-MM-DD; ok is False for a value that
    is no calendar date (20241341, 1985-02-30, 'unknown')."""
    if value is None:
        return None, True
    text = value.strip()
    if _COMPACT_DATE.fullmatch(text):
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    try:
        return dt.date.fromisoformat(text), True
    except ValueError:
        return None, False


def crm_contacts_from_file(
    path: str | Path,
    id_col: str,
    cluster_col: str | None,
    cluster_regex: str | None,
    kind_col: str | None = None,
) -> tuple[pa.Table, pa.Table, dict[str, list[int]], list[str]]:
    """(raw.crm_contacts rows, raw.ground_truth rows, flagged rows by reason, columns the
    warehouse does not compare) for a person file (FEBRL column names mapped).
    ``kind_col``: a column naming each duplicate's kind (as raw.ground_truth's
    duplicate_kind), so the evaluation reports recall per kind; 'original' or empty
    for the others."""
    if (cluster_col is None) == (cluster_regex is None):
        raise PersonFileError("give either a cluster column or a cluster regex")
    raw = read_person_file(path)
    records = to_person_records(raw, id_col)
    ids = records["source_record_id"].to_pylist()
    seen: dict[str, int] = {}
    for row, rid in enumerate(ids, start=1):
        if rid is None:
            raise PersonFileError(f"{path}: row {row}: empty {id_col}")
        if rid in seen:
            raise PersonFileError(
                f"{path}: rows {seen[rid]} and {row}: the same {id_col} {rid!r} "
                "(a record id must be unique)"
            )
        seen[rid] = row
    truth = true_clusters(raw, ids, cluster_col, cluster_regex)
    flagged: dict[str, list[int]] = {}
    births: list[dt.date | None] = []
    texts = (
        records["birth_date"].to_pylist()
        if "birth_date" in records.column_names
        else [None] * len(ids)
    )
    for row, text in enumerate(texts, start=1):
        date, ok = parse_birth_date(text)
        births.append(date)
        if not ok:
            flagged.setdefault("impossible_birth_date", []).append(row)
    n = len(ids)
    name = Path(path).name
    by_lower = {c.strip().lower(): c for c in raw.column_names}
    id_source = next((by_lower[c] for c in NATIONAL_ID_COLUMNS if c in by_lower), None)
    national_id = (
        pc.cast(raw[id_source], pa.string()) if id_source is not None else pa.nulls(n, pa.string())
    )
    contacts = {
        "contact_id": pa.array(ids, pa.string()),
        **{
            c: records[c] if c in records.column_names else pa.nulls(n, pa.string())
            for c in CONTACT_COLUMNS
        },
        "country": pa.nulls(n, pa.string()),
        "national_id": national_id,
        "birth_date": pa.array(births, pa.date32()),
        "created_at": pa.array([LOADED_AT] * n, pa.timestamp("s")),
        "updated_at": pa.array([LOADED_AT] * n, pa.timestamp("s")),
        "_loader_id": pa.array([f"{name}:{i}" for i in range(1, n + 1)], pa.string()),
        "_loaded_at": pa.array([LOADED_AT] * n, pa.timestamp("s")),
    }
    kinds: list[str | None] = [None] * n
    if kind_col is not None:
        if kind_col not in raw.column_names:
            raise PersonFileError(f"no kind column {kind_col!r}")
        kinds = [None if k in (None, "original") else str(k) for k in raw[kind_col].to_pylist()]
    ground_truth = {
        "source": pa.array([SOURCE] * n, pa.string()),
        "source_record_id": pa.array(ids, pa.string()),
        "person_id": pa.array(truth, pa.string()),
        "loader_id": contacts["_loader_id"],
        "is_fuzzy_duplicate": pa.array([False] * n, pa.bool_()),
        "duplicate_kind": pa.array(kinds, pa.string()),
    }
    ignored = [
        c for c in KNOWN_ID_COLUMNS if c in records.column_names and c not in NATIONAL_ID_COLUMNS
    ]
    return pa.table(contacts), pa.table(ground_truth), flagged, ignored


def write_raw(database: Path, contacts: pa.Table, truth: pa.Table) -> None:
    """raw.crm_contacts and raw.ground_truth of a new warehouse file."""
    with duckdb.connect(str(database)) as con:
        con.execute("create schema if not exists raw")
        for name, table in (("crm_contacts", contacts), ("ground_truth", truth)):
            con.register("_arrow_in", table)
            con.execute(f"create or replace table raw.{name} as select * from _arrow_in")
            con.unregister("_arrow_in")


def parse_cache_path() -> Path:
    """Where the person-file builds keep dbt's partial-parse state and their base
    warehouse (person_file_base) between runs."""
    return ferry_home() / "cache" / "person_file_dbt"


def dbt_build(
    database: Path,
    workdir: Path,
    select: tuple[str, ...],
    project: Path = DBT_PROJECT_DIR,
    parse_cache: Path | None = None,
    write_json: bool = False,
    file_log: bool = False,
    exclude: tuple[str, ...] = (),
) -> None:
    """`dbt build` of ``select`` less ``exclude`` (models and seeds, no data tests)
    into ``database``.

    A subprocess, not dbtRunner: dbt-duckdb keeps its connection open in the calling
    process, which would lock the file against the read that follows.

    Parsing the project is a third of a 20k-record build, so dbt's own partial
    parsing is reused across runs (``parse_cache``, default parse_cache_path()):
    the last run's partial_parse.msgpack is copied into this run's target folder,
    and dbt itself decides whether it still holds (project files, vars, profile).
    The profile's connection info is part of that check, so dbt runs in the
    database's folder and reads it by file name only: every scratch warehouse of
    one name (person_file.duckdb) has the same profile. The cache is replaced
    whole (os.replace), so concurrent runs never read a half-written one; a stale
    or unreadable one only costs a full parse. ``write_json``: also write dbt's
    manifest.json and run_results.json (per-model times), which nothing here reads.
    ``file_log``: keep dbt's debug log in ``workdir``/logs (off: it logs every query,
    29k lines and half a second of CPU for a 20k-record file; errors reach stdout)."""
    dbt = Path(sys.executable).with_name("dbt")
    database = database.resolve()
    target = workdir / "target"
    target.mkdir(parents=True, exist_ok=True)
    cache = (parse_cache or parse_cache_path()) / f"{database.stem}.partial_parse.msgpack"
    state = target / "partial_parse.msgpack"
    if cache.is_file():
        shutil.copyfile(cache, state)
    cmd = [
        str(dbt),
        "build",
        "--select",
        *select,
        "--exclude",
        "test_type:unit",
        "resource_type:test",
        *exclude,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target),
        "--log-path",
        str(workdir / "logs"),
        "--quiet",
        "--log-level-file",
        "debug" if file_log else "none",
        "--write-json" if write_json else "--no-write-json",
    ]
    env = {
        **os.environ,
        "FERRY_DUCKDB_PATH": database.name,
        "FERRY_DBT_TARGET": "duckdb",
        "FERRY_DBT_PLUGINS_DIR": str(project / "plugins"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    done = subprocess.run(
        cmd, env=env, cwd=database.parent, capture_output=True, text=True, check=False
    )
    if done.returncode:
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"dbt build of {', '.join(select)} failed:\n" + "\n".join(tail))
    if state.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        scratch = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        shutil.copyfile(state, scratch)
        os.replace(scratch, cache)


def _build_base(
    database: Path, workdir: Path, select: tuple[str, ...], exclude: tuple[str, ...]
) -> None:
    dbt_build(database, workdir, select, exclude=exclude)


def read_result(database: Path) -> WarehouseFileEvaluation:
    """Score a built warehouse holding a person file (read-only)."""
    with duckdb.connect(str(database), read_only=True) as con:
        evaluation = evaluate(con, record_id_namespaces(load_registry()))
        clusters = con.sql(
            f"""
            select cast(source_record_id as varchar) as source_record_id,
                   min(profile_id) as profile_id
            from marts.customer_identifiers
            where source = '{SOURCE}'
            group by 1
            order by 1
            """
        ).to_arrow_table()
        merges = con.execute(
            "select count(*) from intermediate.int_fuzzy_link_decisions where is_merged"
        ).fetchone()[0]
        queue = con.execute("select count(*) from marts.fuzzy_review_queue").fetchone()[0]
    return WarehouseFileEvaluation(evaluation, clusters, int(merges), int(queue))


def evaluate_through_warehouse(
    path: str | Path,
    *,
    id_col: str,
    cluster_col: str | None = None,
    cluster_regex: str | None = None,
    kind_col: str | None = None,
    keep_warehouse: Path | None = None,
) -> WarehouseFileEvaluation:
    """Load the file as CRM contacts into a scratch warehouse (or ``keep_warehouse``,
    replaced), build it as production does, and score its clusters.

    The warehouse starts as a copy of the base (person_file_base): the nodes that do
    not read the file, built once per project version; dbt builds the rest."""
    contacts, truth, flagged, ignored = crm_contacts_from_file(
        path, id_col, cluster_col, cluster_regex, kind_col
    )
    with tempfile.TemporaryDirectory(prefix="ferry-person-file-") as tmp:
        database = (
            Path(keep_warehouse).resolve() if keep_warehouse else Path(tmp) / "person_file.duckdb"
        )
        database.unlink(missing_ok=True)
        # a kept warehouse's log would be replayed onto the copy below
        database.with_name(f"{database.name}.wal").unlink(missing_ok=True)
        started = time.perf_counter()
        copy_base(database, SELECT, parse_cache_path(), DBT_PROJECT_DIR, _build_base)
        write_raw(database, contacts, truth)
        dbt_build(database, Path(tmp), file_nodes(SELECT))
        seconds = time.perf_counter() - started
        result = read_result(database)
    return WarehouseFileEvaluation(
        result.evaluation,
        result.clusters,
        result.fuzzy_merges,
        result.review_queue,
        flagged,
        ignored,
        round(seconds, 1),
    )
