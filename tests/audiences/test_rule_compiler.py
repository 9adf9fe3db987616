"""The rule compiler: valid rules select the expected profiles on DuckDB; hostile
or broken rules are refused with an error naming the file and the key."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.audience_rules import RuleError, compile_rule
from orchestration.audience_rules.catalog import SNAPSHOT_REL
from orchestration.audience_rules.compiler import compile_rules_dir
from orchestration.audience_rules.rule_file import parse_rule
from orchestration.audience_rules.writer import plan, write
from orchestration.paths import DBT_PROJECT_DIR

AS_OF = "2026-06-15 12:00:00"
KNOWN = {"aud_champions", "aud_win_back"}


@pytest.fixture(scope="module")
def warehouse() -> duckdb.DuckDBPyConnection:
    """Trait table, events and one audience, with hand-made rows."""
    con = duckdb.connect()
    con.execute("""create table customer_scores as select * from (values
        ('a', 'hiking', 'gold', 1200, 'paris-rivoli', 'repeat', 3, 'low', 'FR', true),
        ('b', 'hiking', 'member', 10, null, 'lead', 0, 'not_applicable', 'US', false),
        ('c', 'yoga', 'platinum', 50, 'lyon', 'customer', 1, 'high', 'FR', true),
        ('d', 'yoga', 'member', 2000, 'lille', 'lead', 0, 'not_applicable', 'FR', false),
        ('e', null, null, null, null, 'lead', 0, 'not_applicable', null, false)
    ) t(profile_id, main_interest, loyalty_status, loyalty_points, preferred_store,
        lifecycle_stage, lifetime_orders, churn_risk, country, is_target_fit)""")
    con.execute("""create table customer_events as select * from (values
        ('a', 'page_view', timestamp '2026-06-14 10:00:00', 'hiking'),
        ('a', 'page_view', timestamp '2026-06-13 10:00:00', 'hiking'),
        ('a', 'page_view', timestamp '2026-06-12 10:00:00', 'yoga'),
        ('b', 'page_view', timestamp '2026-06-14 10:00:00', 'hiking'),
        ('b', 'page_view', timestamp '2026-06-10 10:00:00', 'hiking'),
        ('b', 'page_view', timestamp '2026-06-09 10:00:00', 'HIKING'),
        ('b', 'page_view', timestamp '2026-01-01 10:00:00', 'hiking'),
        ('c', 'page_view', timestamp '2026-04-01 10:00:00', 'yoga'),
        ('c', 'page_view', timestamp '2026-06-20 10:00:00', 'yoga'),
        ('d', 'product_view', timestamp '2026-06-14 10:00:00', 'yoga'),
        ('d', 'page_view', timestamp '2026-06-14 11:00:00', 'yoga'),
        ('d', 'page_view', timestamp '2026-06-14 12:00:00', 'yoga'),
        ('d', 'page_view', timestamp '2026-06-14 11:30:00', 'yoga'),
        ('d', 'page_view', timestamp '2026-06-14 11:40:00', 'yoga')
    ) t(profile_id, event_type, occurred_at, category)""")
    con.execute("create table aud_champions as select 'a' as profile_id union all select 'c'")
    con.execute("create table aud_win_back as select 'd' as profile_id")
    return con


def members(con: duckdb.DuckDBPyConnection, raw: dict) -> list[str]:
    compiled = compile_rule(parse_rule("rules/t.yml", raw), KNOWN)
    sql = compiled.duckdb_sql
    sql = re.sub(r"\{\{ ref\('(\w+)'\) \}\}", r"\1", sql)
    sql = sql.replace("{{ audiences_as_of() }}", f"timestamp '{AS_OF}'")
    sql = re.sub(
        r"\{\{ audiences_days_ago\((\d+)\) \}\}", rf"(timestamp '{AS_OF}' - interval \1 day)", sql
    )
    assert "{{" not in sql and "{%" not in sql
    return sorted(r[0] for r in con.execute(sql).fetchall())


def rule(*conditions: dict, **extra) -> dict:
    return {"name": "t", "channel": "email", "conditions": list(conditions), **extra}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (rule({"trait": "main_interest", "op": "eq", "value": "hiking"}), ["a", "b"]),
        (rule({"trait": "loyalty_status", "op": "in", "value": ["gold", "platinum"]}), ["a", "c"]),
        (rule({"trait": "loyalty_points", "op": "gte", "value": 1000}), ["a", "d"]),
        (rule({"trait": "loyalty_points", "op": "between", "value": [10, 50]}), ["b", "c"]),
        (rule({"trait": "main_interest", "op": "is_null"}), ["e"]),
        (rule({"trait": "is_target_fit", "op": "is_true"}), ["a", "c"]),
        (rule({"trait": "preferred_store", "op": "contains", "value": "PARIS"}), ["a"]),
        (rule({"trait": "country", "op": "not_in", "value": ["US"]}), ["a", "c", "d"]),
        # event: at least 3 hiking page views in the last 30 days (case-insensitive category)
        (
            rule({"event": "page_view", "at_least": 3, "in_last_days": 30, "category": "hiking"}),
            ["b"],
        ),
        # events after the reference instant do not count; older ones do without a window
        (rule({"event": "page_view", "at_least": 1, "category": "yoga"}), ["a", "c", "d"]),
        (rule({"event": ["page_view", "product_view"], "at_least": 5, "in_last_days": 7}), ["d"]),
        # at most: did not view anything in the last 7 days
        (rule({"event": "page_view", "at_least": 0, "at_most": 0, "in_last_days": 7}), ["c", "e"]),
        (rule({"in_audience": "aud_champions"}), ["a", "c"]),
        (
            rule({"not_in_audience": "aud_champions"}, {"not_in_audience": "aud_win_back"}),
            ["b", "e"],
        ),
        (
            rule(
                {
                    "any": [
                        {"trait": "loyalty_status", "op": "eq", "value": "platinum"},
                        {
                            "expression": "loyalty_points >= 1000 and lower(coalesce(preferred_store, '')) like 'paris%'"
                        },
                    ]
                },
                exclude=[{"trait": "churn_risk", "op": "eq", "value": "high"}],
            ),
            ["a"],
        ),
        # a hostile-looking value stays a literal: it matches nobody and breaks nothing
        (rule({"trait": "main_interest", "op": "eq", "value": "x' or '1'='1"}), []),
        (
            rule(
                {
                    "trait": "main_interest",
                    "op": "eq",
                    "value": "hiking'; drop table customer_scores; --",
                }
            ),
            [],
        ),
    ],
)
def test_valid_rules_select_expected_profiles(warehouse, raw, expected):
    assert members(warehouse, raw) == expected
    assert warehouse.execute("select count(*) from customer_scores").fetchone()[0] == 5


def test_one_query_for_every_warehouse_with_dispatched_macros():
    """No `target.type` branches: what warehouses spell differently is a dispatched macro
    (dbt_project/macros/portability/expressions.sql)."""
    compiled = compile_rule(
        parse_rule(
            "r.yml",
            rule(
                {"trait": "main_interest", "op": "eq", "value": "it's"},
                {"event": "page_view", "at_least": 2, "in_last_days": 3},
                {"expression": "round(loyalty_points / 3, 1) > 2 and concat(country, 'x') <> 'y'"},
                {"expression": "if(loyalty_points > 1, 'a', 'b') = 'a'"},
            ),
        ),
        KNOWN,
    )
    model = compiled.model_sql
    assert "target.type" not in model and "{%" not in model
    assert '{{ ferry_string_literal("it\'s") }}' in model
    assert '{{ ferry_round(ferry_divide("s.loyalty_points", "3"), "1") }}' in model
    assert '{{ ferry_concat(["s.country", "\'x\'"]) }}' in model
    assert "case when s.loyalty_points > 1 then 'a' else 'b' end" in model
    assert "{{ audiences_days_ago(3) }}" in model
    # The DuckDB spelling (previews, these tests) keeps the plain SQL.
    assert (
        "'it''s'" in compiled.duckdb_sql and "round(s.loyalty_points / 3, 1)" in compiled.duckdb_sql
    )


HOSTILE = [
    # (description, rule, key expected in the error, words expected in the message)
    (
        "DDL in an expression",
        rule({"expression": "drop table customer_scores"}),
        "conditions[0].expression",
        "statements are refused",
    ),
    (
        "DML in an expression",
        rule({"expression": "delete from marts.customer_scores"}),
        "conditions[0].expression",
        "refused",
    ),
    (
        "stacked statements",
        rule({"expression": "loyalty_points > 1; drop table customer_scores"}),
        "conditions[0].expression",
        "stacked",
    ),
    (
        "subquery into another schema",
        rule({"expression": "(select count(*) from raw.ground_truth) > 0"}),
        "conditions[0].expression",
        "subqueries",
    ),
    (
        "union injection",
        rule({"expression": "1 = 1 union select profile_id from raw.ground_truth"}),
        "conditions[0].expression",
        "refused",
    ),
    (
        "sleep function",
        rule({"expression": "pg_sleep(10) is null"}),
        "conditions[0].expression",
        "pg_sleep",
    ),
    (
        "file read function",
        rule({"expression": "read_csv('/etc/passwd') is not null"}),
        "conditions[0].expression",
        "not allowed",
    ),
    (
        "unknown column",
        rule({"expression": "password_hash = 'x'"}),
        "conditions[0].expression",
        "unknown column",
    ),
    (
        "qualified column",
        rule({"expression": "raw.ground_truth.person_id = 'x'"}),
        "conditions[0].expression",
        "qualifiers",
    ),
    (
        "copy to a file",
        rule({"expression": "copy customer_scores to '/tmp/x.csv'"}),
        "conditions[0].expression",
        "refused",
    ),
    (
        "attach a database",
        rule({"expression": "attach '/tmp/x.duckdb'"}),
        "conditions[0].expression",
        "refused",
    ),
    ("not boolean", rule({"expression": "loyalty_points"}), "conditions[0].expression", "boolean"),
    (
        "jinja in a value",
        rule({"trait": "main_interest", "op": "eq", "value": "{{ env_var('SENDGRID_API_KEY') }}"}),
        "conditions[0].value",
        "not allowed",
    ),
    (
        "jinja statement in description",
        {
            **rule({"trait": "main_interest", "value": "x"}),
            "description": "{% do run_query('drop schema marts') %}",
        },
        "description",
        "not allowed",
    ),
    (
        "placeholder smuggling",
        rule({"trait": "main_interest", "value": "__ref_raw"}),
        "conditions[0].value",
        "not allowed",
    ),
    (
        "identifier injection in a trait",
        rule({"trait": "main_interest = 'x' or 1=1 --", "value": "x"}),
        "conditions[0].trait",
        "lower-case name",
    ),
    (
        "unknown trait",
        rule({"trait": "ssn", "op": "eq", "value": "x"}),
        "conditions[0].trait",
        "unknown trait",
    ),
    (
        "unknown audience",
        rule({"in_audience": "aud_nope"}),
        "conditions[0].in_audience",
        "unknown audience",
    ),
    (
        "audience in another schema",
        rule({"in_audience": "raw.ground_truth"}),
        "conditions[0].in_audience",
        "lower-case name",
    ),
    ("self reference", rule({"in_audience": "aud_t"}), "conditions[0].in_audience", "itself"),
    (
        "bad operator",
        rule({"trait": "main_interest", "op": "regexp", "value": "x"}),
        "conditions[0].op",
        "not one of",
    ),
    (
        "type mismatch",
        rule({"trait": "loyalty_points", "op": "gte", "value": "1 or 1=1"}),
        "conditions[0].value",
        "expects a number",
    ),
    (
        "unknown condition key",
        rule({"trait": "main_interest", "value": "x", "sql": "1=1"}),
        "conditions[0].sql",
        "unknown key",
    ),
    (
        "matches everyone",
        rule({"event": "page_view", "at_least": 0}),
        "conditions[0].at_least",
        "everyone",
    ),
    (
        "split not 100",
        rule({"trait": "main_interest", "value": "x"}, split={"holdout": 10, "a": 50}),
        "split",
        "not 100",
    ),
    (
        "unknown field",
        rule({"trait": "main_interest", "value": "x"}, fields=["password"]),
        "fields[0]",
        "unknown field",
    ),
    (
        "bad channel",
        rule({"trait": "main_interest", "value": "x"}, channel="fax"),
        "channel",
        "must be one of",
    ),
    (
        "sync column not in the model",
        rule(
            {"trait": "main_interest", "value": "x"},
            sync={
                "syncs": [
                    {
                        "destination": "sendgrid_marketing",
                        "mode": "mirror",
                        "identifiers": {"email": "secret_column"},
                    }
                ]
            },
        ),
        "sync.syncs[0].identifiers.email",
        "not an output column",
    ),
    (
        "sync config the engine refuses",
        rule(
            {"trait": "main_interest", "value": "x"},
            sync={
                "syncs": [
                    {
                        "destination": "sendgrid_marketing",
                        "mode": "blast",
                        "identifiers": {"email": "email"},
                    }
                ]
            },
        ),
        "sync.syncs.0.mode",
        "",
    ),
]


@pytest.mark.parametrize(("what", "raw", "key", "words"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_or_broken_rules_are_refused(what, raw, key, words):
    with pytest.raises(RuleError) as caught:
        compile_rule(parse_rule("audience_rules/t.yml", raw), KNOWN)
    error = caught.value
    assert error.file == "audience_rules/t.yml"
    assert error.key == key, str(error)
    assert words in error.message, str(error)
    assert str(error).startswith(f"audience_rules/t.yml: {key}: ")


def _write(path: Path, raw: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def test_cycles_and_duplicate_names_are_refused(tmp_path):
    rules = tmp_path / "audience_rules"
    _write(rules / "a.yml", {"name": "a", "conditions": [{"in_audience": "aud_b"}]})
    _write(rules / "b.yml", {"name": "b", "conditions": [{"not_in_audience": "aud_a"}]})
    with pytest.raises(RuleError, match="audience cycle") as caught:
        compile_rules_dir(rules, set(), root=tmp_path)
    assert caught.value.file.startswith("audience_rules/")
    (rules / "b.yml").unlink()
    _write(
        rules / "c.yml",
        {"name": "aud_win_back", "conditions": [{"trait": "main_interest", "value": "x"}]},
    )
    with pytest.raises(RuleError, match="hand-written audience"):
        compile_rules_dir(rules, {"aud_win_back", "aud_b"}, root=tmp_path)


def test_rules_referring_to_rules_compile_in_dependency_order(tmp_path):
    rules = tmp_path / "audience_rules"
    _write(rules / "a_second.yml", {"name": "second", "conditions": [{"in_audience": "aud_first"}]})
    _write(
        rules / "b_first.yml",
        {"name": "first", "conditions": [{"trait": "main_interest", "value": "x"}]},
    )
    compiled = compile_rules_dir(rules, set(), root=tmp_path)
    assert [c.rule.name for c in compiled] == ["aud_first", "aud_second"]


def test_writer_generates_models_yaml_and_registry_and_removes_stale(tmp_path):
    project = tmp_path / "proj"
    (project / "models" / "audiences" / "starter").mkdir(parents=True)
    (project / "models" / "audiences" / "starter" / "aud_champions.sql").write_text("select 1")
    _write(
        project / "audience_rules" / "vip.yml",
        {
            "name": "vip",
            "channel": "sms",
            "conditions": [{"in_audience": "aud_champions"}],
            "fields": ["first_name"],
            "split": {"holdout": 10, "a": 90},
            "sync": {
                "syncs": [
                    {
                        "destination": "twilio_sms",
                        "mode": "upsert",
                        "identifiers": {"phone": "phone"},
                    }
                ]
            },
        },
    )
    out = project / "models" / "audiences" / "rules"
    out.mkdir(parents=True)
    (out / "aud_old.sql").write_text(
        "-- Generated by `ferry audiences compile` from x; do not edit.\nselect 1"
    )
    (out / "hand_made.sql").write_text("select 1")
    # the trait catalog a compile without a warehouse reads (audience_rules/_catalog.json)
    shutil.copyfile(DBT_PROJECT_DIR / SNAPSHOT_REL, project / SNAPSHOT_REL)
    p = plan(project, database=tmp_path / "no_warehouse.duckdb")
    assert p.changes()
    write(p)
    assert plan(project).changes() == []
    model = (out / "aud_vip.sql").read_text()
    assert "{{ audience_eligible('sms', 'members.profile_id') }}" in model
    assert "{'holdout': 10, 'a': 90}" in model
    assert "profiles.phone" in model and "profiles.first_name" in model
    assert not (out / "aud_old.sql").exists() and (out / "hand_made.sql").exists()
    doc = yaml.safe_load((out / "_rules__models.yml").read_text())
    meta = doc["models"][0]["config"]["meta"]["ferry"]
    assert meta["channel"] == "sms" and meta["syncs"][0]["destination"] == "twilio_sms"
    assert "'aud_vip'" in (project / "macros" / "audiences" / "rule_audiences.sql").read_text()


def test_committed_rule_models_are_up_to_date():
    """The generated models in the repo match the rule files (`ferry audiences compile --check`)."""
    from orchestration.commands.audiences import register  # noqa: F401  (the CLI module imports)
    from orchestration.paths import DBT_PROJECT_DIR

    assert plan(DBT_PROJECT_DIR).changes() == []
