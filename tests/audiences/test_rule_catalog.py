"""The rule compiler's catalog comes from the warehouse, not a hand-kept list: a new
customer_scores column is usable with no Python change, PII columns never are, and an
unknown event type or category fails with the valid ones listed. `ferry audiences
preview` says when a rule was edited after it was compiled."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.audience_rules import RuleError, compile_rule
from orchestration.audience_rules.catalog import SNAPSHOT_REL, load_catalog
from orchestration.audience_rules.preview import preview_rule
from orchestration.audience_rules.rule_file import parse_rule
from orchestration.audience_rules.writer import plan, write
from orchestration.paths import DBT_PROJECT_DIR

AS_OF = "2026-06-15 12:00:00"


@pytest.fixture()
def warehouse(tmp_path: Path) -> Path:
    """A built-warehouse stand-in: the marts the compiler and the preview read, with a
    trait column no Python list knows (icp_rules_total) and a PII column (email)."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create schema audiences")
        con.execute("""create table marts.customer_scores as select * from (values
            ('a', 3, 'gold', 'a@x.com'), ('b', 1, 'member', 'b@x.com'), ('c', 2, null, null)
        ) t(profile_id, icp_rules_total, loyalty_status, email)""")
        con.execute("""create table marts.customer_events as select * from (values
            ('a', 'page_view', timestamp '2026-06-14 10:00:00', 'hiking', 'web_events', 'web'),
            ('b', 'email_open', timestamp '2026-06-14 10:00:00', null, 'sendgrid_events', 'email')
        ) t(profile_id, event_type, occurred_at, category, source, channel)""")
        con.execute("""create table marts.customer_consent as select * from (values
            ('a', 'email', true), ('b', 'email', true), ('c', 'email', true)
        ) t(profile_id, channel, is_consented)""")
        con.execute("create table marts.erased_profiles as select 'x' as profile_id")
    return path


def _rule(**conditions) -> dict:
    return {"name": "t", "description": "t", "channel": "email", **conditions}


def test_a_new_scores_column_is_usable_without_python_change(warehouse):
    catalog = load_catalog(DBT_PROJECT_DIR, warehouse)
    assert catalog.traits["icp_rules_total"] == "number"
    rule = parse_rule(
        "rules/t.yml", _rule(conditions=[{"trait": "icp_rules_total", "op": "gte", "value": 2}])
    )
    sql = compile_rule(rule, set(), catalog=catalog).duckdb_sql
    sql = sql.replace("{{ ref('customer_scores') }}", "marts.customer_scores")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        members = sorted(r[0] for r in con.execute(sql).fetchall())
    assert members == ["a", "c"]


def test_pii_columns_are_never_traits_whatever_the_warehouse_holds(warehouse):
    catalog = load_catalog(DBT_PROJECT_DIR, warehouse)
    assert "email" not in catalog.traits
    rule = parse_rule("rules/t.yml", _rule(conditions=[{"trait": "email", "op": "not_null"}]))
    with pytest.raises(RuleError, match="unknown trait column 'email'"):
        compile_rule(rule, set(), catalog=catalog)
    rule = parse_rule("rules/t.yml", _rule(conditions=[{"expression": "email like '%@x.com'"}]))
    with pytest.raises(RuleError, match="unknown column 'email'"):
        compile_rule(rule, set(), catalog=catalog)


@pytest.mark.parametrize("database", ["warehouse", "snapshot"])
def test_an_unknown_event_type_lists_the_valid_ones(database, warehouse, tmp_path):
    catalog = load_catalog(
        DBT_PROJECT_DIR, warehouse if database == "warehouse" else tmp_path / "none.duckdb"
    )
    rule = parse_rule("rules/t.yml", _rule(conditions=[{"event": "email_opne", "at_least": 1}]))
    with pytest.raises(RuleError) as error:
        compile_rule(rule, set(), catalog=catalog)
    assert error.value.key == "conditions[0].event"
    assert "unknown event type 'email_opne'; valid:" in error.value.message
    # what sources declare in the registry and what the warehouse holds
    for valid in ("email_open", "page_view", "order_placed", "cart_abandoned"):
        assert valid in error.value.message


def test_an_unknown_category_lists_the_valid_ones(warehouse):
    catalog = load_catalog(DBT_PROJECT_DIR, warehouse)
    rule = parse_rule(
        "rules/t.yml",
        _rule(conditions=[{"event": "page_view", "at_least": 1, "category": "hikking"}]),
    )
    with pytest.raises(RuleError, match=r"unknown category 'hikking' for page_view; valid: hiking"):
        compile_rule(rule, set(), catalog=catalog)
    ok = parse_rule(
        "rules/t.yml",
        _rule(conditions=[{"event": "page_view", "at_least": 1, "category": "Hiking"}]),
    )
    compile_rule(ok, set(), catalog=catalog)


def test_compiling_against_a_warehouse_keeps_a_snapshot_for_ci(warehouse, tmp_path):
    project = tmp_path / "proj"
    shutil.copytree(DBT_PROJECT_DIR / "audience_rules", project / "audience_rules")
    (project / "audience_rules" / "_catalog.json").unlink()
    for rule in (project / "audience_rules").rglob("*.yml"):
        rule.unlink()
    write(plan(project, warehouse))
    snapshot = (project / SNAPSHOT_REL).read_text()
    assert (
        '"icp_rules_total": "number"' in snapshot
        and '"email"' not in snapshot.split("event_types")[0]
    )
    # with no warehouse, the snapshot answers
    assert plan(project, tmp_path / "none.duckdb").catalog.origin.startswith("snapshot")


def test_preview_of_an_edited_rule_says_it_is_stale(warehouse, tmp_path):
    project = tmp_path / "proj"
    (project / "models" / "audiences").mkdir(parents=True)
    rule_file = project / "audience_rules" / "gold.yml"
    rule_file.parent.mkdir(parents=True)
    rule_file.write_text(
        "name: gold\ndescription: gold members\nchannel: email\n"
        "conditions:\n  - {trait: loyalty_status, op: eq, value: gold}\n"
    )
    write(plan(project, warehouse))
    fresh = preview_rule(project, rule_file, warehouse, as_of=AS_OF)
    assert fresh.stale is None and fresh.members == 1
    rule_file.write_text(rule_file.read_text().replace("value: gold", "value: member"))
    edited = preview_rule(project, rule_file, warehouse, as_of=AS_OF)
    assert edited.members == 1 and edited.sample == ["b"]
    assert edited.stale is not None and "ferry audiences compile" in edited.stale
