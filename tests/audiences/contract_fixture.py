"""Hand-made upstream rows in the contract shape, for the audiences area's tests.

The scores, consent and audience models read the contract models int_events,
customer_identifiers, customer_profiles and customer_events. These rows are built
so that each starter audience and score has a known answer at AS_OF; `stub_project`
makes a copy of the dbt project in which any contract model not (yet) present is a
thin model over these tables, so the tests run before and after upstream lands.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from orchestration.paths import DBT_PROJECT_DIR

AS_OF = datetime(2026, 6, 15, 12, 0, 0)
FIXTURE_SCHEMA = "contract_fixtures"
CONTRACT_MODELS = (
    "int_events",
    "int_person_records",
    "customer_identifiers",
    "customer_profiles",
    "customer_events",
)


def ago(days: float = 0, hours: float = 0) -> datetime:
    return AS_OF - timedelta(days=days, hours=hours)


@dataclass
class Person:
    profile_id: str
    email: str | None
    first_name: str
    phone: str | None = None
    birth_date: date | None = None
    owner_email: str | None = None
    company: str | None = None
    country: str | None = "FR"
    email_is_valid: bool = True
    accepts_marketing: bool | None = None
    competitor_contract_end_date: date | None = None
    plan: str | None = None
    events: list[tuple] = field(default_factory=list)


def _people() -> list[Person]:
    """One person per situation; comments say which audience each must (not) reach."""
    grant = {"status": "granted"}
    p = []
    # p01 champion: frequent recent big orders, email+ads consent, 3 weekly emails
    champion = Person("p01", "ann@example.com", "Ann", phone="+33612345601", company="Acme")
    champion.events += [
        ("order", "shop", ago(d), "outdoor", 200.0, {}) for d in (2, 20, 40, 60, 80)
    ]
    champion.events += [
        ("consent_change", "crm", ago(300), None, None, grant | {"channel": "email"}),
        ("consent_change", "crm", ago(300), None, None, grant | {"channel": "ads"}),
    ]
    champion.events += [("email_delivered", "sendgrid", ago(d), None, None, {}) for d in (0, 7, 14)]
    p.append(champion)
    # p02 lapsed (last order 200 days ago, usual interval 50 days): win-back
    lapsed = Person("p02", "bob@example.com", "Bob")
    lapsed.events += [("order", "shop", ago(d), "kitchen", 50.0, {}) for d in (200, 250, 300)]
    lapsed.events += [("consent_change", "crm", ago(400), None, None, grant | {"channel": "email"})]
    p.append(lapsed)
    # p03 lapsed but revoked email consent later: not in win-back
    revoked = Person("p03", "cid@example.com", "Cid")
    revoked.events += [("order", "shop", ago(d), "kitchen", 10.0, {}) for d in (220,)]
    revoked.events += [
        ("consent_change", "crm", ago(400), None, None, grant | {"channel": "email"}),
        ("consent_change", "crm", ago(100), None, None, {"status": "revoked", "channel": "email"}),
    ]
    p.append(revoked)
    # p04 abandoned cart 2 h ago
    cart = Person("p04", "dee@example.com", "Dee")
    cart.events += [
        ("page_view", "web", ago(hours=3), "garden", None, {}),
        ("cart_add", "web", ago(hours=2), "garden", 35.0, {}),
        ("consent_change", "crm", ago(30), None, None, grant | {"channel": "email"}),
    ]
    p.append(cart)
    # p05 cart then ordered: no abandoned cart
    bought = Person("p05", "eve@example.com", "Eve")
    bought.events += [
        ("cart_add", "web", ago(hours=5), "garden", 35.0, {}),
        ("order", "shop", ago(hours=4), "garden", 35.0, {}),
        ("consent_change", "crm", ago(30), None, None, grant | {"channel": "email"}),
    ]
    p.append(bought)
    # p06 trial, inactive 5 days, used feature X (var trial_feature_x = audience_builder)
    trial = Person("p06", "fay@example.com", "Fay", plan="trial")
    trial.events += [
        ("trial_started", "product", ago(10), None, None, {}),
        ("login", "product", ago(9), None, None, {}),
        ("login", "product", ago(5), None, None, {}),
        ("feature_used", "product", ago(9), None, None, {"feature": "audience_builder"}),
        ("feature_used", "product", ago(5), None, None, {"feature": "export"}),
        ("consent_change", "crm", ago(10), None, None, grant | {"channel": "email"}),
    ]
    p.append(trial)
    # p07 active trial (yesterday): not inactive, did not use feature X
    active = Person("p07", "gus@example.com", "Gus", plan="trial")
    active.events += [
        ("trial_started", "product", ago(4), None, None, {}),
        ("login", "product", ago(1), None, None, {}),
        ("feature_used", "product", ago(1), None, None, {"feature": "export"}),
        ("consent_change", "crm", ago(4), None, None, grant | {"channel": "email"}),
    ]
    p.append(active)
    # p08 prospect owned by a salesperson, competitor contract ends in 20 days,
    # birthday in 3 days; no marketing consent (internal notifications need none)
    prospect = Person(
        "p08",
        "hal@example.com",
        "Hal",
        owner_email="sales.rep@ferry.example",
        company="Globex",
        birth_date=date(1980, 6, 18),
        competitor_contract_end_date=(AS_OF + timedelta(days=20)).date(),
    )
    p.append(prospect)
    # p09 newsletter sign-up 2 days ago (grants email consent)
    news = Person("p09", "ida@example.com", "Ida")
    news.events += [("newsletter_signup", "newsletter", ago(2), None, None, {})]
    p.append(news)
    # p10 NPS detractor (3) yesterday
    nps = Person("p10", "jon@example.com", "Jon")
    nps.events += [("nps_response", "support", ago(1), None, None, {"score": 3})]
    p.append(nps)
    # p11 would be in win-back, NPS and birthday, but asked to be erased
    erased = Person(
        "p11",
        "kim@example.com",
        "Kim",
        owner_email="sales.rep@ferry.example",
        birth_date=date(1990, 6, 16),
    )
    erased.events += [("order", "shop", ago(d), "kitchen", 50.0, {}) for d in (200, 260)]
    erased.events += [
        ("consent_change", "crm", ago(400), None, None, grant | {"channel": "email"}),
        ("nps_response", "support", ago(1), None, None, {"score": 1}),
        ("erasure_request", "privacy", ago(1), None, None, {}),
    ]
    p.append(erased)
    # p12 granted then unsubscribed, and bounced: no email consent, suppressed
    unsub = Person("p12", "lea@example.com", "Lea")
    unsub.events += [
        ("consent_change", "crm", ago(50), None, None, grant | {"channel": "email"}),
        ("email_bounce", "sendgrid", ago(20), None, None, {}),
        ("email_unsubscribe", "sendgrid", ago(10), None, None, {}),
    ]
    p.append(unsub)
    # p13 only ticked the shop's marketing box: email consent from the person record
    shop_flag = Person("p13", "max@example.com", "Max", accepts_marketing=True)
    p.append(shop_flag)
    # p14 consented, but the ESP reports the address invalid and a provider block
    invalid = Person("p14", "ned@example.com", "Ned", email_is_valid=False)
    invalid.events += [
        ("consent_change", "crm", ago(50), None, None, grant | {"channel": "email"}),
        ("email_invalid", "sendgrid", ago(3), None, None, {}),
        ("email_blocked", "sendgrid", ago(2), None, None, {}),
    ]
    p.append(invalid)
    # p15 consented to email and SMS, then reported a mail as spam and replied STOP
    # (the event names stg_sendgrid__events and int_twilio_engagement_events produce)
    complainer = Person("p15", "oli@example.com", "Oli", phone="+33612345615")
    complainer.events += [
        ("consent_change", "crm", ago(60), None, None, grant | {"channel": "email"}),
        ("consent_change", "crm", ago(60), None, None, grant | {"channel": "sms"}),
        ("email_spam_report", "sendgrid", ago(5), None, None, {}),
        ("sms_stop", "twilio_opt_outs", ago(4), None, None, {"channel": "sms"}),
    ]
    p.append(complainer)
    # p16 browses hiking most (3 views, 1 yoga) with email consent: aud_interest_hiking
    hiker = Person("p16", "pia@example.com", "Pia")
    hiker.events += [("page_view", "web", ago(d), "hiking", None, {}) for d in (10, 8, 3)]
    hiker.events += [
        ("page_view", "web", ago(2), "yoga", None, {}),
        ("consent_change", "crm", ago(20), None, None, grant | {"channel": "email"}),
    ]
    p.append(hiker)
    # p17 browses hiking too, but never gave email consent: in no interest audience
    browser = Person("p17", "quy@example.com", "Quy")
    browser.events += [("page_view", "web", ago(d), "hiking", None, {}) for d in (6, 5)]
    p.append(browser)
    return p


class _Portable:
    """DuckDB or psycopg connection behind one execute(): `?` placeholders, and
    `create or replace table` spelled as drop + create for PostgreSQL."""

    def __init__(self, con) -> None:
        self.con = con
        self.postgres = not isinstance(con, duckdb.DuckDBPyConnection)

    def execute(self, sql: str, params: list | None = None) -> None:
        if self.postgres:
            if sql.startswith("create or replace table "):
                name = sql.split()[4]
                self.con.execute(f"drop table if exists {name}")
                sql = sql.replace("create or replace table", "create table", 1)
            sql = (
                sql.replace("?", "%s")
                .replace(" double,", " double precision,")
                .replace(" double)", " double precision)")
            )
        self.con.execute(sql, params) if params is not None else self.con.execute(sql)


def create_contract_tables(con, schema: str = FIXTURE_SCHEMA) -> list[Person]:
    """Create the contract tables in `schema` (DuckDB or PostgreSQL connection) and
    fill them with the hand-made rows."""
    people = _people()
    con = _Portable(con)
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"""create or replace table {schema}.customer_profiles (
        profile_id varchar, email varchar, phone varchar, first_name varchar, last_name varchar,
        birth_date date, city varchar, postcode varchar, country varchar, company varchar,
        job_title varchar, owner_name varchar, owner_email varchar, preferred_store varchar,
        loyalty_status varchar, loyalty_points integer, first_touch_source varchar,
        first_touch_channel varchar, first_touch_utm_source varchar, first_touch_utm_medium varchar,
        first_touch_utm_campaign varchar, first_touch_at timestamp, email_is_valid boolean,
        phone_is_valid boolean)""")
    con.execute(f"""create or replace table {schema}.int_events (
        event_id varchar, source varchar, source_record_id varchar, event_type varchar,
        channel varchar, occurred_at timestamp, category varchar, amount double, attributes_json varchar)""")
    con.execute(f"""create or replace table {schema}.customer_events (
        event_id varchar, profile_id varchar, source varchar, event_type varchar, channel varchar,
        occurred_at timestamp, category varchar, amount double, attributes_json varchar)""")
    con.execute(f"""create or replace table {schema}.int_person_records (
        source varchar, source_record_id varchar, first_name varchar, last_name varchar,
        email varchar, phone varchar, birth_date date, owner_name varchar, owner_email varchar,
        competitor_name varchar, competitor_contract_end_date date, accepts_marketing boolean,
        plan varchar, trial_ends_at timestamp,
        source_created_at timestamp, source_updated_at timestamp)""")
    con.execute(f"""create or replace table {schema}.customer_identifiers (
        source varchar, source_record_id varchar, identifier_type varchar,
        identifier_value varchar, profile_id varchar)""")
    for person in people:
        owner_name = "Sam Rep" if person.owner_email else None
        con.execute(
            f"insert into {schema}.customer_profiles values (?, ?, ?, ?, 'Doe', ?, 'Lyon', '69001', ?, ?, "
            f"null, ?, ?, 'Lyon Centre', 'gold', 120, 'web', 'organic', null, null, null, ?, ?, ?)",
            [
                person.profile_id,
                person.email,
                person.phone,
                person.first_name,
                person.birth_date,
                person.country,
                person.company,
                owner_name,
                person.owner_email,
                ago(500),
                person.email_is_valid,
                person.phone is not None,
            ],
        )
        record_id = f"{person.profile_id}-crm"
        con.execute(
            f"insert into {schema}.int_person_records values ('crm_contacts', ?, ?, 'Doe', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record_id,
                person.first_name,
                person.email,
                person.phone,
                person.birth_date,
                owner_name,
                person.owner_email,
                "Initech" if person.competitor_contract_end_date else None,
                person.competitor_contract_end_date,
                person.accepts_marketing,
                person.plan,
                AS_OF + timedelta(days=4) if person.plan == "trial" else None,
                ago(90),
                ago(60),
            ],
        )
        con.execute(
            f"insert into {schema}.customer_identifiers values ('crm_contacts', ?, 'email', ?, ?)",
            [record_id, person.email, person.profile_id],
        )
        for index, (event_type, source, occurred_at, category, amount, attrs) in enumerate(
            person.events
        ):
            event_id = f"{person.profile_id}-e{index:02d}"
            record_id = f"{person.profile_id}-r{index:02d}"
            channel = attrs.get("channel") or ("email" if event_type.startswith("email") else "web")
            row = [
                event_id,
                source,
                record_id,
                event_type,
                channel,
                occurred_at,
                category,
                amount,
                json.dumps(attrs),
            ]
            con.execute(f"insert into {schema}.int_events values (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
            con.execute(
                f"insert into {schema}.customer_events values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    event_id,
                    person.profile_id,
                    source,
                    event_type,
                    channel,
                    occurred_at,
                    category,
                    amount,
                    json.dumps(attrs),
                ],
            )
            con.execute(
                f"insert into {schema}.customer_identifiers values (?, ?, 'email', ?, ?)",
                [source, record_id, person.email, person.profile_id],
            )
    return people


OWN_MODEL_DIRS = ("marts/scores", "marts/consent", "audiences")


def stub_project(destination: Path, use_stubs: bool = True) -> Path:
    """Copy the dbt project to `destination`. With use_stubs, keep only this area's
    models and macros and make the contract models thin models over the fixture
    tables, so the tests do not depend on the state of the other areas."""
    project = destination / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    if not use_stubs:
        return project
    models = project / "models"
    kept = destination / "_kept"
    for own in OWN_MODEL_DIRS:
        if (models / own).exists():
            shutil.copytree(models / own, kept / own)
    kept.mkdir(exist_ok=True)
    shutil.copy2(models / "_ferry__docs.md", kept / "_ferry__docs.md")  # shared column docs
    shutil.rmtree(models)
    shutil.copytree(kept, models)
    shutil.rmtree(kept)
    # only this area's macros (plus schema naming): other areas' work in progress
    # must not break these tests, and these models need nothing else
    macros = project / "macros"
    for entry in macros.iterdir():
        if entry.name not in ("audiences", "generate_schema_name.sql"):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for folder in ("tests", "seeds", "snapshots", "analyses"):
        if (project / folder).exists():
            shutil.rmtree(project / folder)
            (project / folder).mkdir()
    stub_dir = models / "_contract_stubs"
    stub_dir.mkdir()
    for name in CONTRACT_MODELS:
        sql = f"select * from {FIXTURE_SCHEMA}.{name} as stub\n"
        if name.startswith("customer_"):
            # the core marts' contract includes the erasure boundary (macro
            # without_erased_profiles): what reaches scores and audiences holds no erased profile
            sql += (
                "where not exists (select 1 from {{ ref('erased_profiles') }} as erased"
                " where erased.profile_id = stub.profile_id)\n"
            )
        (stub_dir / f"{name}.sql").write_text(sql)
    # identity's record -> profile resolution, as erased_profiles reads it
    (stub_dir / "int_profile_ids_resolved.sql").write_text(
        f"select distinct source, source_record_id, profile_id from {FIXTURE_SCHEMA}.customer_identifiers\n"
    )
    return project
