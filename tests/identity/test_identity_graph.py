"""Identity resolution on hand-made records: graph shapes, hub limits, junk, priority,
golden record. One dbt build of all scenarios (each in its own source / value space),
shared by every test of the module."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from tests.identity.harness import Inputs, dbt_build, query, write_inputs

CHAIN = 2000


def scenarios() -> Inputs:
    inp = Inputs()
    # a long chain: record i carries chain addresses i and i+1
    for i in range(CHAIN):
        inp.record("chain", f"c{i:04d}", email=[f"link{i}@chain.org", f"link{i + 1}@chain.org"])
    # a star: one CRM record holding 40 emails, 40 shop records holding one each
    inp.record("starcrm", "hub", customer_id="starcrm:hub",
               email=[f"leaf{i}@star.org" for i in range(40)])
    for i in range(40):
        inp.record("starshop", f"s{i}", customer_id=f"starshop:{i}", email=f"leaf{i}@star.org")
    # a star through one shared anonymous id (no customer ids involved)
    for i in range(30):
        inp.record("starweb", f"w{i}", anonymous_id="device-star")
    # cycles: a ring of 20 and two disjoint triangles
    for i in range(20):
        inp.record("ring", f"r{i}", phone=[f"+3361000{i:04d}", f"+3361000{(i + 1) % 20:04d}"])
    for t in ("a", "b"):
        for i in range(3):
            inp.record("tri", f"{t}{i}", anonymous_id=[f"tri-{t}-{i}", f"tri-{t}-{(i + 1) % 3}"])
    # household: 6 people with a shop and a CRM record each, one shared landline
    for i in range(1, 7):
        inp.record("hshop", f"h{i}", customer_id=f"hshop:{i}", email=f"member{i}@family.org",
                   phone="+33140000077")
        inp.record("hcrm", f"h{i}", customer_id=f"hcrm:{i}", email=f"member{i}@family.org",
                   phone="+33140000077")
    # junk identifiers shared by unrelated customers never link
    junk = {
        "j0": {"email": "test@test.com"}, "j1": {"email": "test@test.com"},
        "j2": {"phone": "0000000000"}, "j3": {"phone": "0000000000"},
        "j4": {"email": "info@acme-corp.com"}, "j5": {"email": "Info@acme-corp.com"},
        "j6": {"anonymous_id": "anonymous"}, "j7": {"anonymous_id": "anonymous"},
        "j8": {"email": ("broken@@mail.com", False)}, "j9": {"email": ("broken@@mail.com", False)},
        "j10": {"email": "null"}, "j11": {"email": "NULL"},
        "j12": {"email": ""}, "j13": {"email": ""},
    }
    for rid, ids in junk.items():
        inp.record("junk", rid, customer_id=f"junk:{rid}", **ids)
    # priority: A and B share an email (kept); B and C share a phone that would pull a
    # second prio shop account into the profile: the phone is the link dropped
    inp.record("prio", "a", customer_id="prioshop:1", email="pat@prio.org")
    inp.record("prio", "b", email="pat@prio.org", phone="+33622222222")
    inp.record("prio", "c", customer_id="prioshop:2", phone="+33622222222")
    # golden record: the same person in CRM (trusted, older) and shop (newer)
    inp.record("crm", "g1", at="2023-01-01", customer_id="crm:g1", email="gold@person.org")
    inp.person("crm", "g1", first_name="Margaret", last_name="Smith", city="Lyon",
               postcode="69001", owner_name="Sam Seller")
    inp.record("shop", "g1", at="2024-06-01", customer_id="shop:g1",
               email=["GOLD-OLD@person.org", "gold@person.org"], phone=("+3361", False))
    inp.person("shop", "g1", first_name="Maggie", last_name="Smith", city="Paris",
               postcode="75011", loyalty_status="gold", loyalty_points=120)
    inp.record("web", "g1-visit", at="2022-05-01", anonymous_id="visitor-g1", email="gold@person.org")
    inp.event("ev-g1", "web", "g1-visit", "page_view", "2022-05-01 10:00:00", channel="web",
              attributes_json='{"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring"}')
    inp.event("ev-g2", "shop", "g1", "order", "2024-06-01 09:00:00", channel="shop")
    return inp


@pytest.fixture(scope="module")
def built(identity_project: tuple[Path, Path]) -> Path:
    project, db = identity_project
    write_inputs(db, scenarios())
    dbt_build(project, db)
    return db


def profiles_by_record(db: Path, source: str) -> dict[str, str]:
    rows = query(db, "select distinct source_record_id, profile_id from marts.customer_identifiers"
                     f" where source = '{source}'")
    return dict(rows)


def groups(mapping: dict[str, str]) -> list[set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for record, profile in mapping.items():
        out[profile].add(record)
    return sorted(out.values(), key=lambda g: sorted(g))


def test_long_chain_is_one_profile(built: Path) -> None:
    chain = profiles_by_record(built, "chain")
    assert len(chain) == CHAIN
    assert len(set(chain.values())) == 1


def test_stars_are_one_profile_each(built: Path) -> None:
    star = profiles_by_record(built, "starshop") | {"hub": profiles_by_record(built, "starcrm")["hub"]}
    assert len(star) == 41 and len(set(star.values())) == 1
    web = profiles_by_record(built, "starweb")
    assert len(web) == 30 and len(set(web.values())) == 1


def test_cycles_close_and_stay_apart(built: Path) -> None:
    assert len(set(profiles_by_record(built, "ring").values())) == 1
    assert groups(profiles_by_record(built, "tri")) == [{"a0", "a1", "a2"}, {"b0", "b1", "b2"}]


def test_last_round_converged_and_component_is_smallest_record(built: Path) -> None:
    unconverged = query(built, """
        select count(*) from intermediate.int_identity_edges_directed e
        join intermediate.int_identity_labels_round_10 a on a.node_id = e.node_id
        join intermediate.int_identity_labels_round_10 b on b.node_id = e.neighbour_id
        where a.label <> b.label""")
    assert unconverged == [(0,)]
    # the component id is the smallest record node of the component
    chain_nodes = ["0" + hashlib.md5(f"chain|c{i:04d}".encode()).hexdigest() for i in range(CHAIN)]
    [(component,)] = query(built, "select distinct component_id from intermediate.int_identity_components"
                                  " where source = 'chain'")
    assert component == min(chain_nodes)


def test_household_phone_does_not_merge_six_people_and_is_audited(built: Path) -> None:
    shop, crm = profiles_by_record(built, "hshop"), profiles_by_record(built, "hcrm")
    assert len(set(shop.values())) == 6
    # each person's shop and CRM records still merge through their own email
    assert all(shop[k] == crm[k] for k in shop)
    audited = query(built, """
        select source, drop_reason, direct_max_customer_ids, max_customer_ids
        from marts.identity_dropped_links where identifier_value = '+33140000077'""")
    assert len(audited) == 12
    assert {(r[1], r[2], r[3]) for r in audited} == {("max_customer_ids_exceeded", 6, 1)}


def test_junk_identifiers_never_link_and_are_audited(built: Path) -> None:
    junk = profiles_by_record(built, "junk")
    assert len(junk) == 14 and len(set(junk.values())) == 14
    reasons = dict(query(built, "select source_record_id, drop_reason from marts.identity_dropped_links"
                                " where source = 'junk' and identifier_type <> 'customer_id'"))
    assert reasons == {
        "j0": "blocked_value", "j1": "blocked_value", "j2": "blocked_pattern", "j3": "blocked_pattern",
        "j4": "blocked_pattern", "j5": "blocked_pattern", "j6": "blocked_value", "j7": "blocked_value",
        "j8": "invalid_identifier", "j9": "invalid_identifier", "j10": "blocked_value",
        "j11": "blocked_value", "j12": "missing_value", "j13": "missing_value",
    }


def test_weaker_identifier_is_the_link_dropped_on_conflict(built: Path) -> None:
    prio = profiles_by_record(built, "prio")
    assert prio["a"] == prio["b"] != prio["c"]
    dropped = query(built, "select source_record_id, identifier_type, drop_reason"
                           " from marts.identity_dropped_links where source = 'prio' order by 1")
    assert dropped == [("b", "phone", "higher_priority_conflict"), ("c", "phone", "higher_priority_conflict")]


def test_golden_record_survivorship_and_first_touch(built: Path) -> None:
    [row] = query(built, """
        select p.first_name, p.last_name, p.city, p.postcode, p.owner_name, p.loyalty_status,
               p.email, p.email_is_valid, p.phone, p.phone_is_valid,
               p.first_touch_source, p.first_touch_channel, p.first_touch_utm_source,
               p.first_touch_utm_campaign, cast(p.first_touch_at as varchar), p.record_count
        from marts.customer_profiles p
        join marts.customer_identifiers i on i.profile_id = p.profile_id
        where i.source = 'crm' and i.source_record_id = 'g1'
        group by all""")
    assert row == (
        "Margaret", "Smith",            # CRM outranks the newer shop record for names
        "Paris", "75011",               # the address block comes from the newest record
        "Sam Seller", "gold",
        "gold@person.org", True,        # a valid email seen most recently
        "+3361", False,                 # only an invalid phone exists: kept, flagged
        "web", "web", "newsletter", "spring", "2022-05-01 10:00:00", 3,
    )


def test_every_record_and_event_maps_to_one_existing_profile(built: Path) -> None:
    [(records, mapped)] = query(built, "select count(distinct source || source_record_id),"
                                       " count(distinct source || source_record_id || profile_id)"
                                       " from marts.customer_identifiers")
    assert records == mapped
    orphans = query(built, "select count(*) from marts.customer_events e left join"
                           " marts.customer_profiles p using (profile_id) where p.profile_id is null")
    assert orphans == [(0,)]
