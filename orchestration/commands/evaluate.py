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

    from identity.evaluation import evaluate_file
    from orchestration.sources.registry import load_registry, record_id_namespaces

    source = (args.duckdb or duckdb_path()).resolve()
    output = args.output or ferry_home() / "evaluation.json"
    if not source.exists():
        print(f"No warehouse at {source}: run `ferry generate` and `dbt build` first.")
        return 1
    try:
        r = evaluate_file(source, output, record_id_namespaces(load_registry()))
    except duckdb.CatalogException as exc:
        print(f"Cannot evaluate {source}: {exc.args[0].splitlines()[0]}")
        print(
            "It needs raw.ground_truth (ferry generate) and marts.customer_identifiers (dbt build)."
        )
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
    if r.without_fuzzy is not None:
        w = r.without_fuzzy
        print(
            f"  without fuzzy links precision {w['precision']:.4f}  recall {w['recall']:.4f}  "
            f"f1 {w['f1']:.4f}   ({r.fuzzy_links:,} fuzzy links in the identity graph)"
        )
    labels = {"new_contact": "new contacts", "second_account": "second accounts"}
    for kind in r.duplicate_recall:
        label = labels.get(kind, kind.replace("_", " "))
        d = r.duplicate_recall.get(kind) or {}
        if d.get("pairs"):
            before = (r.without_fuzzy or {}).get(f"{kind}_recall")
            print(
                f"  recall on pairs with generated fuzzy duplicates, {label:<19} "
                f"{d['recall']:.4f}   ({d['found_pairs']:,} / {d['pairs']:,} pairs"
                + (f"; {before:.4f} without fuzzy links" if before is not None else "")
                + ")"
            )
    for source, d in r.within_source_recall.items():
        print(
            f"  recall on pairs inside one source, {source:<26} {d['recall']:.4f}   "
            f"({d['found_pairs']:,} / {d['pairs']:,} pairs)"
        )
    missed = r.true_pairs - r.correct_pairs
    if missed and r.missed_pairs:
        print(f"  missed pairs by cause ({missed:,})")
        for category, pairs in r.missed_pairs.items():
            print(f"    {category:<26} {pairs:>10,}  {pairs / r.true_pairs:7.2%} of true pairs")
    print(f"Written to {output}")
    return 0
