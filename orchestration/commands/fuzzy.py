"""`ferry fuzzy`: train and inspect the probabilistic record-matching model.

ferry fuzzy train                       # from int_person_records of the warehouse
ferry fuzzy train --people 20000        # on freshly generated sample data
ferry fuzzy show                        # the committed model, level by level
ferry fuzzy evaluate                    # pairwise metrics with and without fuzzy edges
ferry fuzzy evaluate-file records.csv --id-col rec_id --cluster-col cluster_id
                                        # your own person records, loaded as CRM contacts
                                        # and built as production builds: P/R/F1
ferry fuzzy evaluate-file records.csv ... --file-only
                                        # the matcher alone (EM re-trained on the file)
ferry fuzzy sample-file people.csv      # a FEBRL-style file with duplicates to try it on
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from orchestration.paths import FUZZY_MODEL_PATH, FUZZY_NICKNAMES_PATH, duckdb_path

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
        help="load a CSV/Parquet file of person records as CRM contacts into a scratch "
        "warehouse, build it as production does, and score the profiles pairwise against "
        "a cluster column (--file-only: the matcher alone, EM re-trained on the file)",
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
        "--kind-col",
        default=None,
        help="a column naming each duplicate's kind ('original' or empty for the "
        "others): recall is reported per kind",
    )
    efile.add_argument(
        "--keep-warehouse",
        type=Path,
        default=None,
        help="build into this DuckDB file (replaced) and keep it, to look at the review "
        "queue and the refused pairs",
    )
    efile.add_argument(
        "--clusters",
        type=Path,
        default=None,
        help="also write each record's profile id here (CSV: source_record_id, profile_id)",
    )
    efile.add_argument(
        "--file-only",
        action="store_true",
        help="the matcher alone, not the warehouse: EM re-trained on the file, broad "
        "blocking, --threshold, extra id columns, no contradictions or review queue",
    )
    efile.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="--file-only: match probability from which a pair is linked (default 0.95)",
    )
    efile.add_argument(
        "--model",
        type=Path,
        default=None,
        help="--file-only: use this trained model instead of re-training on the file",
    )
    efile.add_argument(
        "--id-columns",
        default=None,
        help="--file-only: comma-separated extra identifier columns to compare "
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
    """dbt build of int_person_records and its parents into ``db``."""
    from orchestration.person_file_build import dbt_build

    try:
        dbt_build(db, workdir, ("+int_person_records",))
    except RuntimeError as err:
        raise SystemExit(str(err)) from None


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
    """The warehouse's figure by default (one matching path); --file-only for the
    matcher alone, whose figure does not predict a build's (README: what differs)."""
    if args.file_only:
        return _evaluate_file_only(args)
    file_only = [
        f"--{n.replace('_', '-')}" for n in ("threshold", "model", "id_columns")
        if getattr(args, n) is not None
    ]  # fmt: skip
    if file_only:
        print(f"Cannot evaluate {args.path}: {', '.join(file_only)} only apply with --file-only")
        return 1
    import json
    from dataclasses import asdict

    import pyarrow.csv as pacsv

    from identity.fuzzy.person_file import PersonFileError
    from orchestration.person_file_build import evaluate_through_warehouse

    try:
        r = evaluate_through_warehouse(
            args.path,
            id_col=args.id_col,
            cluster_col=args.cluster_col,
            cluster_regex=args.cluster_regex,
            kind_col=getattr(args, "kind_col", None),
            keep_warehouse=args.keep_warehouse,
        )
    except (PersonFileError, ValueError, RuntimeError) as err:
        print(f"Cannot evaluate {args.path}: {err}")
        return 1
    e = r.evaluation
    print(
        f"{args.path}: {e.records:,} records as CRM contacts, {e.true_pairs:,} true pairs; "
        f"warehouse build {r.build_seconds:.1f} s"
    )
    print(f"  profiles  precision {e.precision:.4f}  recall {e.recall:.4f}  f1 {e.f1:.4f}")
    print(
        f"  {r.fuzzy_merges:,} pairs merged by fuzzy matching, {r.review_queue:,} waiting in "
        "marts.fuzzy_review_queue (not merged until a steward accepts them)"
    )
    for kind, d in e.duplicate_recall.items():
        if d.get("pairs"):
            print(
                f"  recall, {kind:<24} {d['recall']:.4f}   ({d['found_pairs']:,} / {d['pairs']:,} pairs)"
            )
    for reason, rows in r.flagged.items():
        shown = ", ".join(str(row) for row in rows[:10]) + (" ..." if len(rows) > 10 else "")
        print(f"  {len(rows):,} rows {reason.replace('_', ' ')}, loaded without it: rows {shown}")
    if r.ignored_columns:
        print(
            f"  not compared by the warehouse: {', '.join(r.ignored_columns)} "
            "(--file-only compares it)"
        )
    if args.keep_warehouse:
        print(f"  warehouse kept: {args.keep_warehouse}")
    if args.clusters:
        pacsv.write_csv(r.clusters, args.clusters)
    if args.output:
        result = {
            **asdict(e),
            "fuzzy_merges": r.fuzzy_merges,
            "review_queue": r.review_queue,
            "flagged_rows": r.flagged,
            "ignored_columns": r.ignored_columns,
            "build_seconds": r.build_seconds,
        }
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def _evaluate_file_only(args: argparse.Namespace) -> int:
    import json

    from identity.fuzzy import read_nicknames
    from identity.fuzzy.person_file import (
        DEFAULT_FILE_THRESHOLD,
        PersonFileError,
        evaluate_person_file,
    )

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
            threshold=DEFAULT_FILE_THRESHOLD if args.threshold is None else args.threshold,
            model_path=args.model,
            id_columns=ids,
        )
    except (PersonFileError, ValueError) as err:
        print(f"Cannot evaluate {args.path}: {err}")
        return 1
    print(
        f"{args.path}: {r.records:,} records, {r.true_pairs:,} true pairs, "
        f"{r.links:,} links at p >= {r.threshold} (model {r.model_version}; file only, "
        "not the warehouse's figure)"
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
