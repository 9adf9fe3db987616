"""Preview a rule against the warehouse before committing it: how many profiles match,
how many the consent and erasure filters remove, and a few profile ids. DuckDB only
(the embedded warehouse); the compiled model is what runs everywhere else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.audience_rules.catalog import load_catalog
from orchestration.audience_rules.compiler import compile_rule, load_rule_file
from orchestration.audience_rules.writer import OUT_REL, hand_written_audiences

SCHEMAS = {"customer_scores": "marts", "customer_events": "marts"}


@dataclass(frozen=True)
class Preview:
    audience: str
    matched: int
    erased: int
    without_consent: int
    members: int
    sample: list[str]
    # why the built audience differs from this preview (the rule was edited since
    # `ferry audiences compile`), or None when the committed model matches the rule
    stale: str | None = None


def _relation(model: str) -> str:
    return f"{SCHEMAS.get(model, 'audiences')}.{model}"


def render_for_duckdb(sql: str, as_of: str | None) -> str:
    """Swap the compiler's Jinja for plain DuckDB SQL (relations by schema, the instant)."""
    instant = f"cast('{as_of}' as timestamp)" if as_of else "cast(now() as timestamp)"
    sql = re.sub(r"\{\{ ref\('([a-z][a-z0-9_]*)'\) \}\}", lambda m: _relation(m.group(1)), sql)
    sql = sql.replace("{{ audiences_as_of() }}", instant)
    return re.sub(r"\{\{ audiences_days_ago\((\d+)\) \}\}", rf"({instant} - interval \1 day)", sql)


def preview_rule(
    project: Path, rule_path: Path, database: Path, as_of: str | None = None
) -> Preview:
    rule = load_rule_file(rule_path, project)
    known = hand_written_audiences(project) | {
        p.stem for p in (project / "models" / "audiences" / "rules").glob("aud_*.sql")
    }
    catalog = load_catalog(project, database)
    compiled = compile_rule(rule, known - {rule.name}, catalog=catalog)
    stale = _staleness(project, rule.name, compiled.model_sql)
    members_sql = render_for_duckdb(compiled.duckdb_sql, as_of)
    consent = (
        "true"
        if rule.channel == "none"
        else f"m.profile_id in (select profile_id from marts.customer_consent "
        f"where channel = '{rule.channel}' and is_consented)"
    )
    sql = f"""
        with m as ({members_sql}),
        judged as (
            select m.profile_id,
                   m.profile_id in (select profile_id from marts.erased_profiles) as is_erased,
                   {consent} as is_consented
            from m
        )
        select count(*),
               count(*) filter (where is_erased),
               count(*) filter (where not is_erased and not is_consented),
               count(*) filter (where not is_erased and is_consented),
               list(profile_id order by profile_id) filter (where not is_erased and is_consented)
        from judged
    """
    con = duckdb.connect(str(database), read_only=True)
    try:
        matched, erased, unconsented, members, ids = con.execute(sql).fetchone()
    finally:
        con.close()
    return Preview(rule.name, matched, erased, unconsented, members, list(ids or [])[:10], stale)


def _staleness(project: Path, name: str, model_sql: str) -> str | None:
    """The rule as edited versus the model dbt builds from (models/audiences/rules)."""
    model = project / OUT_REL / f"{name}.sql"
    if not model.exists():
        return f"{model.relative_to(project)} does not exist yet: run `ferry audiences compile`"
    if model.read_text() != model_sql:
        return (
            f"the rule was edited since {model.relative_to(project)} was compiled: "
            "this preview shows the rule as it is now, the built audience the old one; "
            "run `ferry audiences compile`"
        )
    return None
