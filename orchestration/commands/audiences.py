"""`ferry audiences compile`: turn dbt_project/audience_rules/*.yml into dbt models.

Rules are validated and compiled with sqlglot (SELECT-only, known models, columns
and functions); a refused rule exits with status 2 and a message naming the file
and key. `--check` writes nothing and exits 1 when generated files are stale (CI).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orchestration.audience_rules.errors import RuleError
from orchestration.audience_rules.writer import plan, write
from orchestration.paths import DBT_PROJECT_DIR


def _compile(args: argparse.Namespace) -> int:
    project = Path(args.project_dir).resolve()
    try:
        p = plan(project)
    except RuleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check:
        changed = p.changes()
        for path in changed:
            print(f"out of date: {path.relative_to(project)}")
        if changed:
            print("run `ferry audiences compile` and commit the result", file=sys.stderr)
            return 1
        print(f"{len(p.compiled)} rule audiences up to date")
        return 0
    changed = write(p)
    for c in p.compiled:
        print(f"compiled {c.rule.file} -> {c.rule.name}")
    print(f"{len(p.compiled)} rule audiences, {len(changed)} files changed")
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
    compile_parser.set_defaults(func=_compile)
