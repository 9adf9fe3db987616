"""`ferry fuzzy`: train and inspect the probabilistic record-matching model.

ferry fuzzy train                       # from int_person_records of the warehouse
ferry fuzzy train --people 20000        # on freshly generated sample data
ferry fuzzy show                        # the committed model, level by level
ferry fuzzy evaluate                    # pairwise metrics with and without fuzzy edges
ferry fuzzy evaluate-file records.csv --id-col rec_id --cluster-col cluster_id
                                        # your own person records: EM, score, P/R/F1
ferry fuzzy sample-file people.csv      # a FEBRL-style file with duplicates to try it on
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from orchestration.paths import DBT_PROJECT_DIR, FUZZY_MODEL_PATH, FUZZY_NICKNAMES_PATH, duckdb_path

PERSON_RECORDS = "intermediate.int_person_records"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fuzzy", help="probabilistic record matching (Splink): train, show")
    sub = p.add_subparsers(dest="fuzzy_command", required=True)

    train = sub.add_parser(
        "train",
        help="re-estimate the model (EM, no labels) and save dbt_project/fuzzy/splink_model.json",
    )
    train.add_argument(
        "--duckdb",
        type=Path,
        default=None,
        help="warehouse to read int_person_records from (default: FERRY_DUCKDB_PATH)",
    )
    train.add_argument(
        "--people",
        type=int,
        default=None,
        help="instead, generate sample data for this many people and build it first",
    )
    train.add_argument(
        "--seed", type=int, default=42, help="generator and sampling seed (default 42)"
    )
    train.add_argument(
        "--output",
        type=Path,
        default=None,
        help="model JSON to write (default: dbt_project/fuzzy/splink_model.json)",
    )
    train.add_argument(
        "--u-max-pairs",
        type=float,
        default=5e6,
        help="random pairs sampled to estimate u (default 5e6)",
    )
    train.add_argument(
        "--em-max-pairs",
        type=float,
        default=2e6,
        help="cap on blocked pairs per EM session (default 2e6)",
    )
    train.set_defaults(func=run_train)

    evaluate = sub.add_parser(
        "evaluate",
        help="pairwise precision/recall/F1 of person records against raw.ground_truth, "
        "deterministic clusters vs. clusters merged along int_fuzzy_edges",
    )
    evaluate.add_argument(
        "--duckdb", type=Path, default=None, help="built warehouse (default: FERRY_DUCKDB_PATH)"
    )
    evaluate.add_argument(
        "--output", type=Path, default=None, help="also write the metrics as JSON here"
    )
    evaluate.set_defaults(func=run_evaluate)

    efile = sub.add_parser(
        "evaluate-file",
        help="match a CSV/Parquet file of person records (model re-estimated on it by EM) "
        "and score the clusters pairwise against a cluster column",
    )
    efile.add_argument("path", type=Path, help="CSV or Parquet; FEBRL column names are mapped")
    efile.add_argument("--id-col", required=True, help="record id column")
    truth = efile.add_mutually_exclusive_group(required=True)
    truth.add_argument("--cluster-col", default=None, help="true cluster (person) column")
    truth.add_argument(
        "--cluster-regex",
        default=None,
        help="or: the cluster is this regex's first group in the id (FEBRL: 'rec-(\\d+)-')",
    )
    efile.add_argument(
        "--threshold",
        type=float,
        default=0.95,
        help="match probability from which a pair is linked (default 0.95)",
    )
    efile.add_argument(
        "--model",
        type=Path,
        default=None,
        help="use this trained model instead of re-training on the file",
    )
    efile.add_argument(
        "--id-columns",
        default=None,
        help="comma-separated extra identifier columns to compare "
        "(default: soc_sec_id when present; '' for none)",
    )
    efile.add_argument(
        "--output", type=Path, default=None, help="also write the metrics as JSON here"
    )
    efile.set_defaults(func=run_evaluate_file)

    sample = sub.add_parser("sample-file", help="write a FEBRL-style person file with duplicates")
    sample.add_argument("path", type=Path)
    sample.add_argument("--originals", type=int, default=2000)
    sample.add_argument("--duplicates", type=int, default=3000)
    sample.add_argument("--seed", type=int, default=7)
    sample.set_defaults(func=run_sample_file)

    show = sub.add_parser("show", help="print the model: m, u and weight of every comparison level")
    show.add_argument(
        "--model", type=Path, default=None, help="model JSON (default: the committed one)"
    )
    show.set_defaults(func=run_show)


def _build_person_records(db: Path, workdir: Path) -> None:
    """dbt build of int_person_records and its parents into ``db``.

    A subprocess, not dbtRunner: dbt-duckdb keeps its connection open in the
    calling process, which would lock the file against the read that follows.
    """
    import subprocess
    import sys

    dbt = Path(sys.executable).with_name("dbt")
    cmd = [
        str(dbt),
        "build",
        "--select",
        "+int_person_records",
        "--exclude",
        "test_type:unit",
        "resource_type:test",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
        "--quiet",
    ]
    env = {**os.environ, "FERRY_DUCKDB_PATH": str(db), "FERRY_DBT_TARGET": "duckdb"}
    if subprocess.call(cmd, env=env, cwd=DBT_PROJECT_DIR):
        raise SystemExit("dbt build of int_person_records failed")


def _generation_notes(db: Path) -> dict[str, object]:
    """What raw.generation_info says about generated data (empty for real data)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        try:
            seed, people, as_of, version = con.sql(
                "select seed, people, as_of_date, generator_version from raw.generation_info"
            ).fetchall()[0]
        except (duckdb.CatalogException, IndexError):
            return {}
    return {
        "generated_by": f"ferry generate --people {people} --seed {seed}",
        "generated_as_of": str(as_of),
        "generator_version": version,
    }


def _read_person_records(db: Path):
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(f"select * from {PERSON_RECORDS}").to_arrow_table()


def run_train(args: argparse.Namespace) -> int:
    from identity.fuzzy import TrainingOptions, read_nicknames, train_model

    notes: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="ferry-fuzzy-train-") as tmp:
        if args.people:
            from sample_data import generate

            db = Path(tmp) / "train.duckdb"
            summary = generate(args.people, args.seed, db)
            _build_person_records(db, Path(tmp))
            notes = {
                "data": f"ferry generate --people {args.people} --seed {args.seed}",
                "generated_as_of": str(summary.as_of),
            }
        else:
            db = (args.duckdb or duckdb_path()).resolve()
            notes = {"data": f"int_person_records of {db.name}", **_generation_notes(db)}
        records = _read_person_records(db)
    options = TrainingOptions(
        seed=args.seed, u_max_pairs=args.u_max_pairs, em_max_pairs=args.em_max_pairs, notes=notes
    )
    result = train_model(
        records,
        read_nicknames(FUZZY_NICKNAMES_PATH),
        output_path=args.output or FUZZY_MODEL_PATH,
        options=options,
    )
    print(f"Trained on {result.report['records']:,} person records; model {result.version}")
    print(f"  model:  {result.model_path}")
    print(f"  report: {result.report_path}")
    if result.report["levels_at_floor"]:
        print("  levels the data could not estimate (set to the floor value):")
        for level in result.report["levels_at_floor"]:
            print(f"    - {level}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import math

    from identity.fuzzy import load_model

    model = load_model(args.model or FUZZY_MODEL_PATH)
    prior = model.settings["probability_two_random_records_match"]
    print(f"model {model.version} ({model.path})")
    print(f"prior probability two random records match: {prior:.3g}")
    for level in model.levels():
        if level.gamma < 0:
            continue
        weight = math.log2(level.m_probability / level.u_probability)
        print(f"  {level.comparison:<11} {level.gamma:>2}  {weight:+7.2f}  {level.label}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Deterministic clusters are customer_identifiers' profile ids: build them with
    --vars '{fuzzy_matching_enabled: false}' for a clean baseline once the identity
    graph unions int_fuzzy_edges."""
    import json

    import duckdb

    from identity.fuzzy.evaluation import (
        duplicate_recall,
        merge_clusters,
        pairwise_metrics,
    )

    db = (args.duckdb or duckdb_path()).resolve()
    with duckdb.connect(str(db), read_only=True) as con:
        base = con.sql(
            """
            select distinct
                p.source,
                p.source_record_id,
                -- a person record without any identifier is its own cluster
                coalesce(c.profile_id, 'single|' || p.source || '|' || p.source_record_id)
                    as cluster_id
            from intermediate.int_person_records as p
            left join marts.customer_identifiers as c
                on c.source = p.source and c.source_record_id = p.source_record_id
            """
        ).to_arrow_table()
        # the pairs fuzzy matching merges, read from the decisions so that a
        # warehouse built with fuzzy_matching_enabled: false still shows them
        edges = con.sql(
            "select * from intermediate.int_fuzzy_link_decisions where is_merged"
        ).to_arrow_table()
        con.register("deterministic", base)
        con.register("with_fuzzy", merge_clusters(base, edges))
        result = {}
        for name in ("deterministic", "with_fuzzy"):
            metrics = pairwise_metrics(con, f"select * from {name}").as_dict()
            metrics["fuzzy_duplicate_recall"] = duplicate_recall(con, f"select * from {name}")
            result[name] = metrics
    result["fuzzy_edges"] = edges.num_rows
    print(f"person records of {db.name}, {edges.num_rows:,} fuzzy edges")
    for name in ("deterministic", "with_fuzzy"):
        m = result[name]
        dup = m["fuzzy_duplicate_recall"]
        print(
            f"  {name:<14} precision {m['precision']:.4f}  recall {m['recall']:.4f}  f1 {m['f1']:.4f}"
            + (f"  fuzzy-duplicate recall {dup:.4f}" if dup is not None else "")
        )
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def run_evaluate_file(args: argparse.Namespace) -> int:
    import json

    from identity.fuzzy import read_nicknames
    from identity.fuzzy.person_file import PersonFileError, evaluate_person_file

    ids = None
    if args.id_columns is not None:
        ids = tuple(c.strip() for c in args.id_columns.split(",") if c.strip())
    try:
        r = evaluate_person_file(
            args.path,
            nicknames=read_nicknames(FUZZY_NICKNAMES_PATH),
            id_col=args.id_col,
            cluster_col=args.cluster_col,
            cluster_regex=args.cluster_regex,
            threshold=args.threshold,
            model_path=args.model,
            id_columns=ids,
        )
    except (PersonFileError, ValueError) as err:
        print(f"Cannot evaluate {args.path}: {err}")
        return 1
    print(
        f"{args.path}: {r.records:,} records, {r.true_pairs:,} true pairs, "
        f"{r.links:,} links at p >= {r.threshold} (model {r.model_version})"
    )
    print(f"  clusters  precision {r.precision:.4f}  recall {r.recall:.4f}  f1 {r.f1:.4f}")
    print(
        f"  links     precision {r.link_precision:.4f}  recall {r.link_recall:.4f}  "
        f"f1 {r.link_f1:.4f}   (pairs scored, before transitive closure)"
    )
    if args.output:
        args.output.write_text(json.dumps(r.as_dict(), indent=2) + "\n")
    return 0


def run_sample_file(args: argparse.Namespace) -> int:
    from sample_data.person_file import write_person_file

    path = write_person_file(
        args.path, originals=args.originals, duplicates=args.duplicates, seed=args.seed
    )
    print(f"Wrote {path} (id column rec_id, cluster column cluster_id)")
    return 0
