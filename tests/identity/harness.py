"""A throwaway copy of the identity part of the dbt project, fed from hand-made tables.

The contract models the identity models read (int_identifiers, int_person_records,
int_events) are replaced by stubs selecting from tables the test writes into schema
`test_input` of a temporary DuckDB file, so the identity algorithm is tested on
exactly the rows a test chooses, whatever state the rest of the project is in.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from orchestration.paths import DBT_PROJECT_DIR

IDENTITY_PATHS = (
    "dbt_project.yml",
    "profiles.yml",
    "macros/generate_schema_name.sql",
    "macros/identity",
    "macros/sources/registry.sql",
    "models/intermediate/identity",
    "models/marts/core",
    "models/_ferry__docs.md",  # the shared column descriptions the core marts use
)

STUBS = {
    "int_identifiers": "select * from test_input.identifiers",
    "int_person_records": "select * from test_input.person_records",
    "int_events": "select * from test_input.events",
    # Deterministic scenarios: no fuzzy links, no erasures (tested in their own areas).
    "int_fuzzy_edges": (
        "select cast(null as varchar) as fuzzy_pair_id, cast(null as varchar) as source_a,"
        " cast(null as varchar) as source_record_id_a, cast(null as varchar) as source_b,"
        " cast(null as varchar) as source_record_id_b, cast(null as float) as match_probability,"
        " 'fuzzy' as edge_type, cast(null as varchar) as link_status where 1 = 0"
    ),
    "erased_profiles": (
        "select cast(null as varchar) as profile_id, cast(null as timestamp) as erased_at where 1 = 0"
    ),
}

PERSON_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "street",
    "city",
    "postcode",
    "country",
    "company",
    "job_title",
    "owner_name",
    "owner_email",
    "preferred_store",
    "loyalty_status",
    "loyalty_points",
)


@dataclass
class Inputs:
    """Rows for the three contract tables, added scenario by scenario."""

    identifiers: list[tuple[Any, ...]] = field(default_factory=list)
    person_records: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def record(
        self, source: str, record_id: str, at: str = "2024-01-01", **ids: str | list[str] | None
    ) -> None:
        """One source record with its identifiers (type -> value or list of values),
        plus a person row; an identifier passed as ('value', False) is flagged invalid."""
        ts = datetime.fromisoformat(at)
        for identifier_type, values in ids.items():
            if values is None:
                continue
            for value in values if isinstance(values, list) else [values]:
                valid, reason = True, None
                if isinstance(value, tuple):
                    value, valid = value
                    reason = None if valid else "bad_format"
                self.identifiers.append(
                    (source, record_id, identifier_type, value, valid, reason, ts)
                )
        self.person_records.append(
            {"source": source, "source_record_id": record_id, "source_updated_at": ts}
        )

    def person(self, source: str, record_id: str, **attributes: Any) -> None:
        for row in self.person_records:
            if row["source"] == source and row["source_record_id"] == record_id:
                row.update(attributes)
                return
        raise KeyError((source, record_id))

    def event(
        self,
        event_id: str,
        source: str,
        record_id: str,
        event_type: str,
        at: str,
        channel: str | None = None,
        attributes_json: str | None = None,
    ) -> None:
        self.events.append(
            (
                event_id,
                source,
                record_id,
                event_type,
                channel,
                datetime.fromisoformat(at),
                None,
                None,
                attributes_json,
            )
        )


def make_project(root: Path) -> Path:
    """Copy the identity models and macros into `root` and add the stub contract models."""
    project = root / "dbt_project"
    for rel in IDENTITY_PATHS:
        src = DBT_PROJECT_DIR / rel
        dst = project / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)
    unioned = project / "models" / "intermediate" / "unioned"
    unioned.mkdir(parents=True, exist_ok=True)
    for name, sql in STUBS.items():
        (unioned / f"{name}.sql").write_text(sql + "\n")
    return project


def write_inputs(db_path: Path, inputs: Inputs) -> None:
    """(Re)write the test_input tables in one go."""
    con = duckdb.connect(str(db_path))
    try:
        con.execute("create schema if not exists test_input")
        con.execute(
            "create or replace table test_input.identifiers (source varchar, source_record_id varchar,"
            " identifier_type varchar, identifier_value varchar, is_valid boolean,"
            " invalid_reason varchar, observed_at timestamp)"
        )
        if inputs.identifiers:
            con.executemany(
                "insert into test_input.identifiers values (?, ?, ?, ?, ?, ?, ?)",
                inputs.identifiers,
            )
        cols = ", ".join(
            f"{c} {'date' if c == 'birth_date' else 'integer' if c == 'loyalty_points' else 'varchar'}"
            for c in PERSON_COLUMNS
        )
        con.execute(
            "create or replace table test_input.person_records (source varchar, source_record_id varchar,"
            f" {cols}, source_updated_at timestamp)"
        )
        names = ("source", "source_record_id", *PERSON_COLUMNS, "source_updated_at")
        rows = [tuple(r.get(n) for n in names) for r in inputs.person_records]
        if rows:
            con.executemany(
                f"insert into test_input.person_records values ({', '.join('?' * len(names))})",
                rows,
            )
        con.execute(
            "create or replace table test_input.events (event_id varchar, source varchar,"
            " source_record_id varchar, event_type varchar, channel varchar, occurred_at timestamp,"
            " category varchar, amount decimal(12, 2), attributes_json varchar)"
        )
        if inputs.events:
            con.executemany(
                "insert into test_input.events values (?, ?, ?, ?, ?, ?, ?, ?, ?)", inputs.events
            )
    finally:
        con.close()


def dbt_build(
    project: Path,
    db_path: Path | None,
    *extra: str,
    command: str = "build",
    target: str = "duckdb",
    env: dict[str, str] | None = None,
) -> None:
    """`dbt build` (or `command`) of the copied project against `db_path` (DuckDB) or the
    target named by `target` with its connection variables in `env`; raises on any
    failure. By the dbt CLI in a subprocess: the builds run in the background
    (tests/prebuild.py) and must leave this process's os.environ and dbt's in-process
    state to the tests running meanwhile; runs in one project copy reuse its parse."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        **({"FERRY_DUCKDB_PATH": str(db_path)} if db_path is not None else {}),
        **(env or {}),
        "FERRY_DBT_TARGET": target,
        "FERRY_DBT_PLUGINS_DIR": str(DBT_PROJECT_DIR / "plugins"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    dbt = Path(sys.executable).with_name("dbt")
    args = [
        str(dbt), command,
        "--project-dir", str(project), "--profiles-dir", str(project),
        "--target-path", str(project / "target"), "--log-path", str(project / "logs"),
        "--quiet", "--target", target, *extra,
    ]  # fmt: skip
    done = subprocess.run(
        args, check=False, cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:  # --quiet: what dbt printed is the errors
        raise AssertionError(f"dbt {command} failed:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")


def write_inputs_postgres(conninfo: dict[str, object], inputs: Inputs) -> None:
    """The same test_input tables, in PostgreSQL (for the portability test)."""
    import psycopg

    with psycopg.connect(**conninfo, autocommit=True) as con:
        con.execute("drop schema if exists test_input cascade")
        con.execute("create schema test_input")
        con.execute(
            "create table test_input.identifiers (source text, source_record_id text,"
            " identifier_type text, identifier_value text, is_valid boolean,"
            " invalid_reason text, observed_at timestamp)"
        )
        with con.cursor() as cur:
            cur.executemany(
                "insert into test_input.identifiers values (%s, %s, %s, %s, %s, %s, %s)",
                inputs.identifiers,
            )
            cols = ", ".join(
                f"{c} {'date' if c == 'birth_date' else 'integer' if c == 'loyalty_points' else 'text'}"
                for c in PERSON_COLUMNS
            )
            cur.execute(
                f"create table test_input.person_records (source text, source_record_id text,"
                f" {cols}, source_updated_at timestamp)"
            )
            names = ("source", "source_record_id", *PERSON_COLUMNS, "source_updated_at")
            cur.executemany(
                f"insert into test_input.person_records values ({', '.join(['%s'] * len(names))})",
                [tuple(r.get(n) for n in names) for r in inputs.person_records],
            )
            cur.execute(
                "create table test_input.events (event_id text, source text, source_record_id text,"
                " event_type text, channel text, occurred_at timestamp, category text,"
                " amount numeric(12, 2), attributes_json text)"
            )
            cur.executemany(
                "insert into test_input.events values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                inputs.events,
            )


def query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db_path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# The real erasure tombstone model and the macro it needs, for the erasure tests.
ERASURE_PATHS = (
    "models/marts/consent/erased_profiles.sql",
    "macros/audiences/audiences_event_roles.sql",
)


def make_erasure_project(root: Path) -> Path:
    """The identity project with the real `erased_profiles` model instead of the empty
    stub, so erasure requests among the test events reach the core marts' filters."""
    project = make_project(root)
    (project / "models" / "intermediate" / "unioned" / "erased_profiles.sql").unlink()
    for rel in ERASURE_PATHS:
        dst = project / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(DBT_PROJECT_DIR / rel, dst)
    return project
