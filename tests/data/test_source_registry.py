"""The source registry: any subset of sources builds, a broken raw contract is named
and breaks nothing else, and a source added through the registry alone reaches the
profiles and scores.

Three builds of small generated data (300 people): only CRM contacts (plus one
person entered twice, for the CRM's own deduplication), CRM + shop
(customers, orders, order lines), and every source plus a `loyalty_members` source
declared only in the registry of a copy of the project (no staging model, no SQL),
landed without loader columns, beside a CRM table that lacks one contract column.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.paths import DBT_PROJECT_DIR
from orchestration.sources.registry import load_registry
from tests import prebuild
from tests.data.conftest import WAREHOUSE, run_dbt

CRM_SHOP = ("crm_contacts", "shop_customers", "shop_orders", "shop_order_lines")
LOYALTY_ENTRY = {
    "description": "Loyalty programme members (points).",
    "relation": "raw.loyalty_members",
    "record_id": "member_id",
    "record_time": "joined_at",
    "columns": {
        "member_id": "text", "email": "text", "first_name": "text", "points": "integer",
        "joined_at": "timestamp",
    },
    "identifiers": [
        {"type": "customer_id", "column": "member_id", "namespace": "loyalty", "kind": "account_id"},
        {"type": "email", "column": "email"},
    ],
    "person": ["first_name", "email", {"loyalty_points": "points"},
               {"source_created_at": "joined_at"}, {"source_updated_at": "joined_at"}],
    "events": {"types": ["loyalty_joined"], "attributes": ["points"]},
}  # fmt: skip
DROPPED_COLUMN = ("crm_contacts", "job_title")


@dataclass
class Build:
    path: Path
    returncode: int
    log: str
    results: dict[str, str]  # node unique_id -> status
    messages: dict[str, str]  # node unique_id -> message


def _warehouse_with(work: Path, tables: tuple[str, ...] | None) -> Path:
    """A warehouse holding `tables` of the generated raw schema (None: all of them)."""
    path = work / WAREHOUSE
    raw = prebuild.result("raw_db")
    with duckdb.connect(str(path)) as con:
        con.execute(f"attach '{raw}' as generated (read_only)")
        con.execute("create schema raw")
        names = tables or [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() "
                "where database_name = 'generated' and schema_name = 'raw'"
            ).fetchall()
        ]
        for name in names:
            con.execute(f"create table raw.{name} as select * from generated.raw.{name}")
    return path


def _build(path: Path, work: Path, args: list[str], project: Path = DBT_PROJECT_DIR) -> Build:
    done = run_dbt(args, path, work, project)
    run_results = json.loads((work / "target" / "run_results.json").read_text())
    return Build(
        path,
        done.returncode,
        done.stdout + done.stderr,
        {r["unique_id"]: r["status"] for r in run_results["results"]},
        {r["unique_id"]: r.get("message") or "" for r in run_results["results"]},
    )


# One person entered twice by two salespeople: a typo in the first name, no e-mail or
# phone, the same birth date and address. CRM contact ids are record ids (source
# registry, kind record_id), so the two rows may be one person.
CRM_TWICE = (
    ("DUP-1", "Mathilde", "Bernard", "2025-03-02 09:00:00"),
    ("DUP-2", "Mathidle", "Bernard", "2026-05-20 14:30:00"),
)


@prebuild.job("crm_only_build")
def build_crm_only(work: Path) -> Build:
    path = _warehouse_with(work, ("crm_contacts",))
    with duckdb.connect(str(path)) as con:
        for contact_id, first, last, at in CRM_TWICE:
            con.execute(
                "insert into raw.crm_contacts (contact_id, first_name, last_name, birth_date, "
                "street, city, postcode, country, created_at, updated_at, _loader_id, _loaded_at) "
                "select ?, ?, ?, date '1983-06-12', '14 rue Victor Hugo', 'Grenoble', '38000', "
                "'FR', ?, ?, 'test:' || ?, max(_loaded_at) from raw.crm_contacts",
                [contact_id, first, last, at, at, contact_id],
            )
        # a contact typed without any name: flagged in the quarantine, still linked
        con.execute(
            "insert into raw.crm_contacts (contact_id, email, created_at, updated_at, "
            "_loader_id, _loaded_at) select 'NONAME-1', 'jo.sans.nom@free.fr', "
            "'2026-01-05 10:00:00', '2026-01-05 10:00:00', 'test:NONAME-1', max(_loaded_at) "
            "from raw.crm_contacts"
        )
    return _build(path, work, ["build"])


@prebuild.job("crm_shop_build")
def build_crm_shop(work: Path) -> Build:
    return _build(_warehouse_with(work, CRM_SHOP), work, ["build"])


@prebuild.job("loyalty_build")
def build_with_loyalty(work: Path) -> Build:
    """Every generated source, one registry-only source, one missing CRM column."""
    project = work / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    config = yaml.safe_load((project / "dbt_project.yml").read_text())
    config["vars"]["ferry_sources"]["loyalty_members"] = LOYALTY_ENTRY
    (project / "dbt_project.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    path = _warehouse_with(work, None)
    table, column = DROPPED_COLUMN
    with duckdb.connect(str(path)) as con:
        con.execute(f"alter table raw.{table} drop column {column}")
        # CRM contacts with an address seen once, as loyalty members (upper-cased, as a
        # till would type it); no _loader_id / _loaded_at: staging derives them.
        con.execute("""
            create table raw.loyalty_members as
            with once as (
                select lower(trim(email)) as email, min(first_name) as first_name
                from raw.crm_contacts
                where regexp_full_match(lower(trim(email)), '[a-z0-9._-]+@[a-z0-9-]+\\.[a-z.]+')
                group by 1 having count(*) = 1
            )
            select 'L' || row_number() over (order by email) as member_id,
                   upper(email) as email, first_name,
                   777000 + row_number() over (order by email) as points,
                   '2026-01-15 10:00:00' as joined_at
            from once order by email limit 20
        """)
    return _build(
        path, work,
        ["build", "--select", "+customer_scores", "+customer_identifiers", "+customer_events", "+profile_id_aliases",
         "+int_quarantined_records",
         "raw_contracts", "--exclude", "test_type:unit"],
        project,
    )  # fmt: skip


@pytest.fixture(scope="module")
def crm_only(tmp_path_factory) -> Build:
    return prebuild.result("crm_only_build", tmp_path_factory)


@pytest.fixture(scope="module")
def crm_shop(tmp_path_factory) -> Build:
    return prebuild.result("crm_shop_build", tmp_path_factory)


@pytest.fixture(scope="module")
def loyalty(tmp_path_factory) -> Build:
    return prebuild.result("loyalty_build", tmp_path_factory)


def _count(path: Path, sql: str) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize("which", ["crm_only", "crm_shop"])
def test_a_subset_of_sources_builds_green(which, request):
    build: Build = request.getfixturevalue(which)
    failed = {k: v for k, v in build.results.items() if v not in ("success", "pass", "warn", "no-op")}
    assert build.returncode == 0 and not failed, (failed, build.log[-3000:])
    present = {"crm_only": ("crm_contacts",), "crm_shop": CRM_SHOP}[which]
    for name, source in load_registry().items():
        if source.is_record_source and name not in present:
            system, table = source.source_system, source.relation
            assert f"source {system}: {table} not found, skipped" in build.log
    profiles = _count(build.path, "select count(*) from marts.customer_profiles")
    assert profiles > 0
    assert _count(build.path, "select count(*) from marts.customer_scores") == profiles
    sources = _count(build.path, "select count(distinct source) from marts.customer_identifiers")
    assert sources == len(present)
    # every audience model was built (empty where its source is missing)
    built = {
        k for k, v in build.results.items() if k.startswith("model.ferry.aud_") and v == "success"
    }
    assert len(built) >= 15


def test_a_crm_alone_deduplicates_its_own_contacts(crm_only):
    """Two CRM contacts of one person, with nothing but a typo'd name, a birth date
    and an address in common, become one profile."""
    with duckdb.connect(str(crm_only.path), read_only=True) as con:
        profiles = con.execute(
            "select source_record_id, profile_id from marts.customer_identifiers "
            "where source = 'crm_contacts' and source_record_id in ('DUP-1', 'DUP-2')"
        ).fetchall()
        status = con.execute(
            "select link_status from intermediate.int_fuzzy_link_decisions "
            "where source_record_id_a in ('DUP-1', 'DUP-2') and source_record_id_b in ('DUP-1', 'DUP-2')"
        ).fetchall()
    assert {r[0] for r in profiles} == {"DUP-1", "DUP-2"}
    assert len({r[1] for r in profiles}) == 1, profiles
    assert status == [("merged_by_model",)]


def test_a_contact_without_a_name_is_flagged_not_dropped(crm_only):
    with duckdb.connect(str(crm_only.path), read_only=True) as con:
        reasons = con.execute(
            "select reason from intermediate.int_quarantined_records "
            "where source = 'crm_contacts' and source_record_id = 'NONAME-1'"
        ).fetchall()
        linked = con.execute(
            "select count(profile_id) from marts.customer_identifiers "
            "where source = 'crm_contacts' and source_record_id = 'NONAME-1'"
        ).fetchall()
    assert reasons == [("no_name",)]
    assert linked[0][0] >= 1


def test_shop_orders_reach_scores_without_web_or_support(crm_shop):
    with_orders = _count(
        crm_shop.path, "select count(*) from marts.customer_scores where lifetime_orders > 0"
    )
    assert with_orders > 0


def test_a_missing_column_is_named_and_breaks_nothing_else(loyalty):
    table, column = DROPPED_COLUMN
    contract = "test.ferry.raw_contracts"
    assert loyalty.results[contract] == "error"
    assert f"raw.{table}: missing column {column} (text)" in loyalty.messages[contract]
    assert f"raw.{table} has no column {column} (text), read as null" in loyalty.log
    others = {k: v for k, v in loyalty.results.items() if k != contract}
    assert others and all(v in ("success", "pass", "warn", "no-op") for v in others.values()), {
        k: v for k, v in others.items() if v not in ("success", "pass", "warn", "no-op")
    }
    assert _count(loyalty.path, "select count(*) from staging.stg_crm__contacts") > 0


def test_a_registry_only_source_joins_profiles_by_email(loyalty):
    path = loyalty.path
    members = _count(path, "select count(*) from raw.loyalty_members")
    assert members == 20
    # identifiers normalised (the till's upper-case e-mails lowercased and valid)
    assert (
        _count(
            path,
            "select count(*) from intermediate.int_identifiers where source = 'loyalty_members' "
            "and identifier_type = 'email' and is_valid and identifier_value = lower(identifier_value)",
        )
        == members
    )
    joined = """select count(distinct l.source_record_id) from marts.customer_identifiers l
           join marts.customer_identifiers c
             on c.profile_id = l.profile_id and c.source {}
           where l.source = 'loyalty_members'"""
    # every member joins an existing profile; nearly all the CRM contact it came from
    # (the hub guards may keep an address shared by other systems' accounts apart)
    assert _count(path, joined.format("<> 'loyalty_members'")) == members
    assert _count(path, joined.format("= 'crm_contacts'")) >= members - 2
    # the points reach the golden record and the trait table (where no shop account,
    # which ranks first in survivorship, holds points of its own)
    in_profiles = _count(
        path,
        "select count(*) from marts.customer_profiles where loyalty_points between 777001 and 777020",
    )
    in_scores = _count(
        path,
        "select count(*) from marts.customer_scores where loyalty_points between 777001 and 777020",
    )
    assert in_profiles > 0 and in_scores == in_profiles
    assert (
        _count(
            path, "select count(*) from marts.customer_events where event_type = 'loyalty_joined'"
        )
        == members
    )
    # loader columns derived (a row hash each): no row is taken for an older copy
    quarantined = (
        "select count(*) from intermediate.int_quarantined_records where source = 'loyalty_members'"
    )
    assert _count(path, quarantined) == 0
