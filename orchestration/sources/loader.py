"""`ferry load <source> FILE`: a CSV or Parquet file into the source's raw table.

DuckDB's own readers parse the file (CSV read as text, so a bad value is found and
named rather than guessed around); every contract column is checked and cast to its
type family; a failure names the file, the column and the row (1 = first data row)
and writes nothing. Columns outside the contract are kept as they are. Without
`_loader_id` / `_loaded_at`, the loader stamps '<file>:<row>' and the load time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.sources.contract import DUCKDB_TYPES, accepts, family_of
from orchestration.sources.registry import RegistryError, Source

READERS = {".csv": "read_csv", ".tsv": "read_csv", ".txt": "read_csv", ".parquet": "read_parquet"}


class LoadError(ValueError):
    """The file does not meet the source's contract; the message names file, column, row."""


@dataclass(frozen=True)
class LoadResult:
    relation: str
    rows: int
    extra_columns: tuple[str, ...]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _reader_sql(path: Path) -> str:
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise LoadError(
            f"{path}: unknown file type {path.suffix!r} (CSV or Parquet: .csv, .tsv, .parquet)"
        )
    if reader == "read_csv":
        return f"read_csv({_literal(str(path))}, header = true, all_varchar = true)"
    return f"read_parquet({_literal(str(path))})"


def _cast(column: str, family: str) -> str:
    """The typed value of a column; null where the text does not parse."""
    col = _quote(column)
    if family == "text":
        return f"cast({col} as varchar)"
    if family == "timestamp":
        # ISO-8601 with an offset is converted to UTC; a zone-less value is read as UTC.
        return f"cast(timezone('UTC', try_cast({col} as timestamptz)) as timestamp)"
    return f"try_cast({col} as {DUCKDB_TYPES[family]})"


def _first_bad_row(
    con: duckdb.DuckDBPyConnection, column: str, family: str
) -> tuple[int, str] | None:
    col = _quote(column)
    bad = con.execute(
        f"select ferry_row, cast({col} as varchar) from ferry_file "
        f"where {col} is not null and trim(cast({col} as varchar)) <> '' "
        f"and {_cast(column, family)} is null order by ferry_row limit 1"
    ).fetchone()
    return (int(bad[0]), str(bad[1])) if bad else None


def load_file(source: Source, path: Path, database: Path, *, append: bool = False) -> LoadResult:
    """Check `path` against `source`'s contract and write it to its raw table."""
    if not source.is_record_source:
        raise RegistryError(
            f"source {source.name} is landed by Ferry's connectors, not loaded from files"
        )
    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    schema, table = source.schema_table
    con = duckdb.connect(str(database))
    try:
        con.execute("set TimeZone = 'UTC'")
        try:
            con.execute(
                f"create temp table ferry_file as select row_number() over () as ferry_row, * "
                f"from {_reader_sql(path)}"
            )
        except duckdb.Error as error:
            raise LoadError(f"{path}: cannot read as {path.suffix.lstrip('.')}: {error}") from None
        found = {
            name.lower(): (name, data_type)
            for name, data_type in con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = 'ferry_file' and column_name <> 'ferry_row' order by ordinal_position"
            ).fetchall()
        }
        contract = source.contract()
        missing = [c for c in contract if not c.optional and c.name.lower() not in found]
        if missing:
            names = ", ".join(f"{c.name} ({c.family})" for c in missing)
            raise LoadError(
                f"{path}: missing column(s) {names} required by source {source.name} "
                f"(its contract: docs/sources.md)"
            )
        select: list[str] = []
        for column in contract:
            if column.name.lower() not in found:
                continue
            name, data_type = found[column.name.lower()]
            got = family_of(data_type)
            if got != "text" and not accepts(column.family, got) and got is not None:
                raise LoadError(
                    f"{path}: column {name} is {data_type}, source {source.name} expects {column.family}"
                )
            bad = _first_bad_row(con, name, column.family)
            if bad is not None:
                row, value = bad
                raise LoadError(
                    f"{path}: row {row}, column {name}: {value[:60]!r} is not a {column.family}"
                )
            select.append(f"{_cast(name, column.family)} as {_quote(column.name)}")
        known = {c.name.lower() for c in contract}
        extra = tuple(name for key, (name, _) in found.items() if key not in known)
        select += [_quote(name) for name in extra]
        if "_loader_id" not in found:
            select.append(
                f"{_literal(path.name + ':')} || cast(ferry_row as varchar) as _loader_id"
            )
        if "_loaded_at" not in found:
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
            select.append(f"cast({_literal(now)} as timestamp) as _loaded_at")
        body = f"select {', '.join(select)} from ferry_file order by ferry_row"
        target = f"{_quote(schema)}.{_quote(table)}"
        con.execute(f"create schema if not exists {_quote(schema)}")
        con.execute("begin")
        if append:
            con.execute(f"create table if not exists {target} as {body} limit 0")
            con.execute(f"insert into {target} by name {body}")
        else:
            con.execute(f"create or replace table {target} as {body}")
        con.execute("commit")
        rows = con.execute("select count(*) from ferry_file").fetchone()[0]
    finally:
        con.close()
    return LoadResult(f"{schema}.{table}", int(rows), extra)
