"""`ferry load <source> FILE`: a CSV or Parquet file into the source's raw table, checked
against its registry contract (orchestration/sources/loader.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.paths import duckdb_path


def _load(args: argparse.Namespace) -> int:
    from orchestration.sources.loader import LoadError, load_file
    from orchestration.sources.registry import RegistryError, load_registry

    database = Path(args.duckdb).resolve() if args.duckdb else duckdb_path()
    try:
        registry = load_registry()
        source = registry.get(args.source)
        if source is None:
            loadable = ", ".join(n for n, s in registry.items() if s.is_record_source)
            raise RegistryError(f"unknown source {args.source!r}; sources: {loadable}")
        result = load_file(source, Path(args.file), database, append=args.append)
    except (LoadError, RegistryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"loaded {result.rows:,} rows from {args.file} into {result.relation} ({database})")
    if result.extra_columns:
        print(f"kept columns outside the contract: {', '.join(result.extra_columns)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "load", help="load a CSV or Parquet file into a source's raw table"
    )
    parser.add_argument("source", help="registry name, e.g. crm_contacts")
    parser.add_argument("file", help="a .csv / .tsv (with a header) or .parquet file")
    parser.add_argument("--duckdb", default=None, help="DuckDB file (default: FERRY_DUCKDB_PATH)")
    parser.add_argument(
        "--append", action="store_true", help="append to the table (default: replace it)"
    )
    parser.set_defaults(func=_load)
