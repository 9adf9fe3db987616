"""Every dialect difference lives in a dispatched macro (dbt_project/macros) or in the
sync engine's sqlglot layer: no model, generated or hand-written, branches on the
warehouse. Macros may (that is where `adapter.dispatch` picks an implementation)."""

from __future__ import annotations

import re
from pathlib import Path

from orchestration.paths import DBT_PROJECT_DIR

MODELS = DBT_PROJECT_DIR / "models"
# target.type, target['type'], target.get('type'), adapter.type(): ways to ask for the engine.
ENGINE_CHECK = re.compile(
    r"""\btarget\s*(\.\s*type\b|\[\s*['"]type['"]\s*\]|\.\s*get\(\s*['"]type['"])|\badapter\s*\.\s*type\s*\("""
)


# A YAML config switch is not SQL that branches: a contract enforced everywhere but on
# Spark (its type names differ), a unit test of a DuckDB-only plugin. dbt renders these
# keys itself, where no dispatched macro can stand.
CONFIG_SWITCH = re.compile(r"^\s*(enforced|enabled):\s")


def engine_checks(root: Path) -> list[str]:
    """`path:line: text` of every engine check in the SQL, Python and YAML under root."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".sql", ".py", ".yml", ".yaml") or not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if path.suffix in (".yml", ".yaml") and CONFIG_SWITCH.match(line):
                continue
            if ENGINE_CHECK.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def test_no_model_branches_on_the_engine() -> None:
    assert MODELS.is_dir() and len(list(MODELS.rglob("*.sql"))) > 80
    found = engine_checks(MODELS)
    assert not found, "dispatch a macro (adapter.dispatch) instead:\n" + "\n".join(found)


def test_the_check_finds_each_spelling(tmp_path: Path) -> None:
    spellings = [
        "{% if target.type == 'postgres' %}",
        "{{ config(materialized=('table' if target . type == 'duckdb' else 'view')) }}",
        "{%- elif target['type'] in ['spark'] %}",
        '{% if target.get("type") %}',
        "{% if adapter.type() == 'spark' %}",
    ]
    for i, line in enumerate(spellings):
        (tmp_path / f"m{i}.sql").write_text(f"select 1\n{line}\n")
    (tmp_path / "clean.sql").write_text(
        "select target_type, my_target.type, t.typed from t -- target types\n"
    )
    assert len(engine_checks(tmp_path)) == len(spellings)
