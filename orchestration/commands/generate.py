"""`ferry generate`: write deterministic sample data into the warehouse's raw schema."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from orchestration.paths import duckdb_path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate", help="generate realistic sample raw data (deterministic per seed)"
    )
    p.add_argument("--people", type=int, default=5000, help="number of true people (default 5000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--duckdb", type=Path, default=None, help="DuckDB file (default: FERRY_DUCKDB_PATH)"
    )
    p.add_argument(
        "--as-of",
        type=dt.date.fromisoformat,
        default=None,
        help="reference date YYYY-MM-DD: all activity is generated up to it (default: today, UTC)",
    )
    p.add_argument(
        "--duplicate-share",
        type=float,
        default=0.07,
        help="share of person records duplicated with no shared clean identifier (default 0.07)",
    )
    p.add_argument(
        "--crm-duplicate-share",
        type=float,
        default=0.0,
        help="share of CRM rows that duplicate another CRM row: entered twice, imported "
        "twice, a lead converted (0.08 is a real CRM's mess; default 0: none)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sample_data import generate

    target = (args.duckdb or duckdb_path()).resolve()
    started = time.perf_counter()
    summary = generate(
        args.people,
        args.seed,
        target,
        as_of=args.as_of,
        duplicate_share=args.duplicate_share,
        crm_duplicate_share=args.crm_duplicate_share,
    )
    elapsed = time.perf_counter() - started
    print(
        f"Generated {summary.raw_records:,} raw records for {summary.people:,} people "
        f"(seed {summary.seed}, as of {summary.as_of}) into {target} in {elapsed:.1f}s"
    )
    for name, count in summary.row_counts.items():
        print(f"  raw.{name:<28} {count:>10,}")
    return 0
