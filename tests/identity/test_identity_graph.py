"""Identity resolution on hand-made records: graph shapes, hub limits, junk, priority,
golden record. One dbt build of all scenarios (each in its own source / value space),
shared by every test of the module."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import pytest

from tests.identity.harness import query
from tests.identity.scenarios import CHAIN


@pytest.fixture(scope="module")
def built(scenario_db: Path) -> Path:
    return scenario_db


def profiles_by_record(db: Path, source: str) -> dict[str, str]:
    rows = query(
        db,
        "select distinct source_record_id, profile_id from marts.customer_identifiers"
        f" where source = '{source}'",
    )
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
    star = profiles_by_record(built, "starshop") | {
        "hub": profiles_by_record(built, "starcrm")["hub"]
    }
    assert len(star) == 41 and len(set(star.values())) == 1
    web = profiles_by_record(built, "starweb")
    assert len(web) == 30 and len(set(web.values())) == 1


def test_cycles_close_and_stay_apart(built: Path) -> None:
    assert len(set(profiles_by_record(built, "ring").values())) == 1
    assert groups(profiles_by_record(built, "tri")) == [{"a0", "a1", "a2"}, {"b0", "b1", "b2"}]


def test_last_round_converged_and_component_is_smallest_record(built: Path) -> None:
    unconverged = query(
        built,
        """
        select count(*) from intermediate.int_identity_edges_directed e
        join intermediate.int_identity_labels_round_10 a on a.node_id = e.node_id
        join intermediate.int_identity_labels_round_10 b on b.node_id = e.neighbour_id
        where a.label <> b.label""",
    )
    assert unconverged == [(0,)]
    # the component id is the smallest record node of the component
    chain_nodes = ["0" + hashlib.md5(f"chain|c{i:04d}".encode()).hexdigest() for i in range(CHAIN)]
    [(component,)] = query(
        built,
        "select distinct component_id from intermediate.int_identity_components"
        " where source = 'chain'",
    )
    assert component == min(chain_nodes)


def test_household_phone_does_not_merge_six_people_and_is_audited(built: Path) -> None:
    shop, crm = profiles_by_record(built, "hshop"), profiles_by_record(built, "hcrm")
    assert len(set(shop.values())) == 6
    # each person's shop and CRM records still merge through their own email
    assert all(shop[k] == crm[k] for k in shop)
    audited = query(
        built,
        """
        select source, drop_reason, direct_max_customer_ids, max_customer_ids
        from marts.identity_dropped_links where identifier_value = '+33140000077'""",
    )
    assert len(audited) == 12
    assert {(r[1], r[2], r[3]) for r in audited} == {("max_customer_ids_exceeded", 6, 1)}


def test_junk_identifiers_never_link_and_are_audited(built: Path) -> None:
    junk = profiles_by_record(built, "junk")
    assert len(junk) == 14 and len(set(junk.values())) == 14
    reasons = dict(
        query(
            built,
            "select source_record_id, drop_reason from marts.identity_dropped_links"
            " where source = 'junk' and identifier_type <> 'customer_id'",
        )
    )
    assert reasons == {
        "j0": "blocked_value",
        "j1": "blocked_value",
        "j2": "blocked_pattern",
        "j3": "blocked_pattern",
        "j4": "blocked_pattern",
        "j5": "blocked_pattern",
        "j6": "blocked_value",
        "j7": "blocked_value",
        "j8": "invalid_identifier",
        "j9": "invalid_identifier",
        "j10": "blocked_value",
        "j11": "blocked_value",
        "j12": "missing_value",
        "j13": "missing_value",
    }


def test_broken_email_spelling_one_known_address_links_to_it(built: Path) -> None:
    repair = profiles_by_record(built, "repair")
    assert repair["no-tld"] == repair["known-1"]
    assert repair["no-at"] == repair["known-2"]
    # 'jo.ma @mail.org' could be either of two known addresses: it links to neither
    assert len({repair["either"], repair["twin-1"], repair["twin-2"]}) == 3
    rows = query(
        built,
        "select source_record_id, identifier_value, link_status, repaired_from"
        " from marts.customer_identifiers where source = 'repair' and identifier_type = 'email'"
        " and source_record_id in ('no-tld', 'either') order by 1, 4 nulls first",
    )
    assert rows == [
        ("either", "jo.ma @mail.org", "invalid_identifier", None),
        ("no-tld", "flegall@hotmail", "invalid_identifier", None),
        ("no-tld", "flegall@hotmail.fr", "linked", "flegall@hotmail"),
    ]


def test_weaker_identifier_is_the_link_dropped_on_conflict(built: Path) -> None:
    prio = profiles_by_record(built, "prio")
    assert prio["a"] == prio["b"] != prio["c"]
    dropped = query(
        built,
        "select source_record_id, identifier_type, drop_reason"
        " from marts.identity_dropped_links where source = 'prio' order by 1",
    )
    assert dropped == [
        ("b", "phone", "higher_priority_conflict"),
        ("c", "phone", "higher_priority_conflict"),
    ]


def test_shared_phone_with_different_first_names_is_a_household(built: Path) -> None:
    couple = profiles_by_record(built, "couple")
    assert couple["crm-1"] != couple["shop-1"]
    assert couple["crm-2"] == couple["shop-2"]
    reasons = query(
        built,
        "select source_record_id, drop_reason from marts.identity_dropped_links"
        " where source = 'couple' order by 1",
    )
    assert reasons == [("crm-1", "conflicting_first_names"), ("shop-1", "conflicting_first_names")]


def test_golden_record_survivorship_and_first_touch(built: Path) -> None:
    [row] = query(
        built,
        """
        select p.first_name, p.last_name, p.city, p.postcode, p.owner_name, p.loyalty_status,
               p.email, p.email_is_valid, p.phone, p.phone_is_valid,
               p.first_touch_source, p.first_touch_channel, p.first_touch_utm_source,
               p.first_touch_utm_campaign, cast(p.first_touch_at as varchar), p.record_count
        from marts.customer_profiles p
        join marts.customer_identifiers i on i.profile_id = p.profile_id
        where i.source = 'crm' and i.source_record_id = 'g1'
        group by all""",
    )
    assert row == (
        "Margaret",
        "Smith",  # CRM outranks the newer shop record for names
        "Paris",
        "75011",  # the address block comes from the newest record
        "Sam Seller",
        "gold",
        "gold@person.org",
        True,  # a valid email seen most recently
        "+3361",
        False,  # only an invalid phone exists: kept, flagged
        "web",
        "web",
        "newsletter",
        "spring",
        "2022-05-01 10:00:00",
        3,
    )


def test_every_record_and_event_maps_to_one_existing_profile(built: Path) -> None:
    [(records, mapped)] = query(
        built,
        "select count(distinct source || source_record_id),"
        " count(distinct source || source_record_id || profile_id)"
        " from marts.customer_identifiers",
    )
    assert records == mapped
    orphans = query(
        built,
        "select count(*) from marts.customer_events e left join"
        " marts.customer_profiles p using (profile_id) where p.profile_id is null",
    )
    assert orphans == [(0,)]
