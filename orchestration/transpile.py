"""Ferry's SQL, transpiled to the warehouses it cannot run on here (Snowflake, BigQuery).

Why: the dbt project and the sync engine are written once (dbt models compiled on the
DuckDB target, the engine's statements in DuckDB's dialect) and must port unchanged.
Snowflake and BigQuery have no local server, so portability is checked with sqlglot in
strict mode: a construct sqlglot cannot express in the target dialect (a function it
would silently drop, an ordering it cannot keep) raises instead of producing SQL that
differs in meaning. `check` collects every such problem in one pass so a test or a
user sees all of them at once.

dbt itself targets those warehouses through its adapters (dbt-snowflake, dbt-bigquery);
this module is the proof that nothing in the SQL stands in the way, and a way to read
what a model becomes there (`transpile_manifest`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot.errors import ErrorLevel

SOURCE_DIALECT = "duckdb"
TARGET_DIALECTS: tuple[str, ...] = ("snowflake", "bigquery")


@dataclass(frozen=True)
class TranspileProblem:
    """One statement that does not transpile cleanly to one dialect."""

    name: str  # e.g. model.ferry.customer_profiles or syncs:plan:aud_win_back__sendgrid
    dialect: str
    error: str

    def __str__(self) -> str:
        return f"{self.name} -> {self.dialect}: {self.error}"


def transpile_strict(sql: str, write: str, read: str = SOURCE_DIALECT) -> list[str]:
    """`sql` (one or more statements) in dialect `write`; raises on anything unsupported."""
    return sqlglot.transpile(
        sql,
        read=read,
        write=write,
        error_level=ErrorLevel.RAISE,
        unsupported_level=ErrorLevel.RAISE,
    )


def check(
    statements: Mapping[str, str],
    dialects: Iterable[str] = TARGET_DIALECTS,
    read: str = SOURCE_DIALECT,
) -> list[TranspileProblem]:
    """Every (statement, dialect) that fails strict transpilation, with sqlglot's reason."""
    problems: list[TranspileProblem] = []
    for dialect in dialects:
        for name, sql in statements.items():
            try:
                out = transpile_strict(sql, dialect, read)
            except sqlglot.errors.SqlglotError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                problems.append(TranspileProblem(name, dialect, first[:300]))
                continue
            if not any(s.strip() for s in out):
                problems.append(TranspileProblem(name, dialect, "transpiled to no statement"))
    return problems


def compiled_nodes(
    manifest_path: Path, resource_types: Iterable[str] = ("model", "test")
) -> tuple[dict[str, str], list[str]]:
    """(unique_id -> compiled SQL, unique_ids of Python models) from a compiled manifest.

    Nodes without compiled code (never compiled, or disabled) are left out; a caller
    that needs all of them compares counts itself.
    """
    manifest = json.loads(Path(manifest_path).read_text())
    wanted = set(resource_types)
    sql: dict[str, str] = {}
    python: list[str] = []
    for unique_id, node in sorted(manifest.get("nodes", {}).items()):
        if node.get("resource_type") not in wanted:
            continue
        if node.get("language") == "python":
            python.append(unique_id)
            continue
        code = node.get("compiled_code")
        if code:
            sql[unique_id] = code
    return sql, python


def transpile_manifest(manifest_path: Path, out_dir: Path, dialect: str) -> list[TranspileProblem]:
    """Write every compiled model as `<out_dir>/<dialect>/<model>.sql`; returns the problems."""
    statements, _python = compiled_nodes(manifest_path, ("model",))
    target = Path(out_dir) / dialect
    target.mkdir(parents=True, exist_ok=True)
    problems = check(statements, (dialect,))
    failed = {p.name for p in problems}
    for unique_id, sql in statements.items():
        if unique_id in failed:
            continue
        text = ";\n\n".join(s for s in transpile_strict(sql, dialect) if s.strip())
        (target / f"{unique_id.split('.')[-1]}.sql").write_text(text + ";\n")
    return problems
