"""`ferry audiences compile`: turn dbt_project/audience_rules/*.yml into dbt models, and
write one dbt exposure per audience sync (models/audiences/_syncs__exposures.yml);
`ferry audiences preview <rule.yml>`: count who a rule selects before committing it.

Rules are validated and compiled with sqlglot (SELECT-only, known models, columns
and functions); a refused rule exits with status 2 and a message naming the file
and key. `--check` writes nothing and exits 1 when generated files are stale (CI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from orchestration.audience_rules.errors import RuleError
from orchestration.audience_rules.writer import plan, write
from orchestration.paths import DBT_PROJECT_DIR, duckdb_path
from orchestration.sync_exposures import EXPOSURES_FILE, stale, write_exposures


def _compile(args: argparse.Namespace) -> int:
    project = Path(args.project_dir).resolve()
    try:
        p = plan(project, Path(args.duckdb).resolve() if args.duckdb else None)
    except RuleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        changed = [path.relative_to(project) for path in p.changes()]
        if stale(project):
            changed.append(EXPOSURES_FILE)
        for path in changed:
            print(f"out of date: {path}")
        if changed:
            print("run `ferry audiences compile` and commit the result", file=sys.stderr)
            return 1
        print(f"{len(p.compiled)} rule audiences up to date")
        return 0
    changed = write(p)
    for c in p.compiled:
        print(f"compiled {c.rule.file} -> {c.rule.name}")
    print(f"{len(p.compiled)} rule audiences, {len(changed)} files changed")
    if p.catalog is not None:
        print(f"checked against {p.catalog.origin}")
    if write_exposures(project):
        print(f"wrote {EXPOSURES_FILE} (one exposure per audience sync)")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from orchestration.audience_rules.preview import preview_rule

    project = Path(args.project_dir).resolve()
    database = Path(args.duckdb).resolve() if args.duckdb else duckdb_path()
    try:
        result = preview_rule(project, Path(args.rule).resolve(), database, as_of=args.as_of)
    except RuleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except duckdb.Error as error:
        print(f"error: cannot preview against {database} (built yet?): {error}", file=sys.stderr)
        return 2
    print(
        f"{result.audience}: {result.members} members "
        f"({result.matched} match the rule, {result.without_consent} without consent, "
        f"{result.erased} erased)"
    )
    if result.stale:
        print(f"stale: {result.stale}")
    if result.sample:
        print("sample profile ids: " + ", ".join(result.sample))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audiences", help="rule-based audiences")
    sub = parser.add_subparsers(dest="audiences_command", required=True)
    compile_parser = sub.add_parser("compile", help="compile audience_rules/*.yml to dbt models")
    compile_parser.add_argument(
        "--project-dir", default=str(DBT_PROJECT_DIR), help="dbt project folder"
    )
    compile_parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if stale"
    )
    compile_parser.add_argument(
        "--duckdb",
        default=None,
        help="warehouse whose customer_scores / customer_events the rules are checked "
        "against (default: FERRY_DUCKDB_PATH, else audience_rules/_catalog.json)",
    )
    compile_parser.set_defaults(func=_compile)
    preview_parser = sub.add_parser(
        "preview", help="count who a rule file selects in the warehouse"
    )
    preview_parser.add_argument("rule", help="path to a rule .yml file")
    preview_parser.add_argument(
        "--project-dir", default=str(DBT_PROJECT_DIR), help="dbt project folder"
    )
    preview_parser.add_argument(
        "--duckdb", default=None, help="DuckDB file (default: FERRY_DUCKDB_PATH)"
    )
    preview_parser.add_argument(
        "--as-of", default=None, help="reference instant, e.g. 2026-06-15 12:00:00"
    )
    preview_parser.set_defaults(func=_preview)
