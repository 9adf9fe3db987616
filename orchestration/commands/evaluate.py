"""`ferry evaluate`: pairwise precision/recall/F1 of identity resolution vs ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestration.paths import duckdb_path, ferry_home


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score marts.customer_identifiers against raw.ground_truth (pairwise precision/recall/F1)",
    )
    p.add_argument(
        "--duckdb", type=Path, default=None, help="DuckDB file (default: FERRY_DUCKDB_PATH)"
    )
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON file for the result (default: .ferry/evaluation.json under FERRY_HOME)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import duckdb

    from orchestration.evaluation import evaluate_file

    source = (args.duckdb or duckdb_path()).resolve()
    output = args.output or ferry_home() / "evaluation.json"
    if not source.exists():
        print(f"No warehouse at {source}: run `ferry generate` and `dbt build` first.")
        return 1
    try:
        r = evaluate_file(source, output)
    except duckdb.CatalogException as exc:
        print(f"Cannot evaluate {source}: {exc.args[0].splitlines()[0]}")
        print("It needs raw.ground_truth (ferry generate) and marts.customer_identifiers (dbt build).")
        return 1
    print(f"Identity resolution vs ground truth ({source})")
    print(f"  records            {r.records:>12,}   unresolved {r.records_unresolved:,}")
    print(
        f"  true persons       {r.true_persons:>12,}   predicted profiles {r.predicted_profiles:,}"
    )
    print(
        f"  precision          {r.precision:>12.4f}   ({r.correct_pairs:,} / {r.predicted_pairs:,} pairs)"
    )
    print(
        f"  recall             {r.recall:>12.4f}   ({r.correct_pairs:,} / {r.true_pairs:,} pairs)"
    )
    print(f"  f1                 {r.f1:>12.4f}")
    print(
        f"  clean-pair recall  {r.clean_recall:>12.4f}   ({r.clean_correct_pairs:,} / {r.clean_pairs:,} pairs sharing a clean identifier)"
    )
    print(f"Written to {output}")
    return 0
