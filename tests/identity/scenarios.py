"""The hand-made identity scenarios, each in its own source / value space so one build
covers them all: graph shapes, hub limits, junk, priority, golden record."""

from __future__ import annotations

from tests.identity.harness import Inputs

CHAIN = 2000


def scenarios() -> Inputs:
    inp = Inputs()
    # a long chain: record i carries chain addresses i and i+1
    for i in range(CHAIN):
        inp.record("chain", f"c{i:04d}", email=[f"link{i}@chain.org", f"link{i + 1}@chain.org"])
    # a star: one CRM record holding 40 emails, 40 shop records holding one each
    inp.record(
        "starcrm", "hub", customer_id="starcrm:hub", email=[f"leaf{i}@star.org" for i in range(40)]
    )
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
        inp.record(
            "hshop",
            f"h{i}",
            customer_id=f"hshop:{i}",
            email=f"member{i}@family.org",
            phone="+33140000077",
        )
        inp.record(
            "hcrm",
            f"h{i}",
            customer_id=f"hcrm:{i}",
            email=f"member{i}@family.org",
            phone="+33140000077",
        )
    # junk identifiers shared by unrelated customers never link
    junk = {
        "j0": {"email": "test@test.com"},
        "j1": {"email": "test@test.com"},
        "j2": {"phone": "0000000000"},
        "j3": {"phone": "0000000000"},
        "j4": {"email": "info@acme-corp.com"},
        "j5": {"email": "Info@acme-corp.com"},
        "j6": {"anonymous_id": "anonymous"},
        "j7": {"anonymous_id": "anonymous"},
        "j8": {"email": ("broken@@mail.com", False)},
        "j9": {"email": ("broken@@mail.com", False)},
        "j10": {"email": "null"},
        "j11": {"email": "NULL"},
        "j12": {"email": ""},
        "j13": {"email": ""},
    }
    for rid, ids in junk.items():
        inp.record("junk", rid, customer_id=f"junk:{rid}", **ids)
    # broken e-mail addresses: each that spells one known address links to it (no
    # top-level domain, no @); one that spells two known addresses links to neither
    inp.record("repair", "known-1", customer_id="repairshop:1", email="flegall@hotmail.fr")
    inp.record("repair", "no-tld", anonymous_id="device-repair-1", email=("flegall@hotmail", False))
    inp.record("repair", "known-2", email="yvon.goffaux@papeterie-royale.com")
    inp.record(
        "repair",
        "no-at",
        anonymous_id="device-repair-2",
        email=("Yvon.Goffaux.papeterie-royale.com", False),
    )
    inp.record("repair", "twin-1", email="jo.ma@mail.org")
    inp.record("repair", "twin-2", email="joma@mail.org")
    inp.record("repair", "either", email=("jo.ma @mail.org", False))
    # priority: A and B share an email (kept); B and C share a phone that would pull a
    # second prio shop account into the profile: the phone is the link dropped
    inp.record("prio", "a", customer_id="prioshop:1", email="pat@prio.org")
    inp.record("prio", "b", email="pat@prio.org", phone="+33622222222")
    inp.record("prio", "c", customer_id="prioshop:2", phone="+33622222222")
    # a couple's landline across two systems (names differ) vs one person's mobile
    # across two systems under a nickname (same initial)
    inp.record("couple", "crm-1", customer_id="couplecrm:1", phone="+33321922902")
    inp.person("couple", "crm-1", first_name="Camille", last_name="Durand")
    inp.record("couple", "shop-1", customer_id="coupleshop:1", phone="+33321922902")
    inp.person("couple", "shop-1", first_name="Katherine", last_name="Durand")
    inp.record("couple", "crm-2", customer_id="couplecrm:2", phone="+33619499786")
    inp.person("couple", "crm-2", first_name="Cathy", last_name="Fournier")
    inp.record("couple", "shop-2", customer_id="coupleshop:2", phone="+33619499786")
    inp.person("couple", "shop-2", first_name="Catherine", last_name="Fournier")
    # golden record: the same person in CRM (trusted, older) and shop (newer)
    inp.record("crm", "g1", at="2023-01-01", customer_id="crm:g1", email="gold@person.org")
    inp.person(
        "crm",
        "g1",
        first_name="Margaret",
        last_name="Smith",
        city="Lyon",
        postcode="69001",
        owner_name="Sam Seller",
    )
    inp.record(
        "shop",
        "g1",
        at="2024-06-01",
        customer_id="shop:g1",
        email=["GOLD-OLD@person.org", "gold@person.org"],
        phone=("+3361", False),
    )
    inp.person(
        "shop",
        "g1",
        first_name="Maggie",
        last_name="Smith",
        city="Paris",
        postcode="75011",
        loyalty_status="gold",
        loyalty_points=120,
    )
    inp.record(
        "web", "g1-visit", at="2022-05-01", anonymous_id="visitor-g1", email="gold@person.org"
    )
    inp.event(
        "ev-g1",
        "web",
        "g1-visit",
        "page_view",
        "2022-05-01 10:00:00",
        channel="web",
        attributes_json='{"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring"}',
    )
    inp.event("ev-g2", "shop", "g1", "order", "2024-06-01 09:00:00", channel="shop")
    return inp


ERASED_EMAIL = "forget.me@erase.org"
KEPT_EMAIL = "keep.me@erase.org"


def erasure_scenario() -> Inputs:
    """Two people with a CRM and a shop record each and a few events; the first asked
    (from the consent tool, a third record linked by email) to be erased."""
    inp = Inputs()
    for who, email, phone in (
        ("gone", ERASED_EMAIL, "+33611110001"),
        ("kept", KEPT_EMAIL, "+33611110002"),
    ):
        inp.record(
            "ecrm", who, at="2024-02-01", customer_id=f"ecrm:{who}", email=email, phone=phone
        )
        inp.person(
            "ecrm", who, first_name=who.title(), last_name="Person", email=email, phone=phone
        )
        inp.record("eshop", who, at="2024-03-01", customer_id=f"eshop:{who}", email=email)
        inp.person("eshop", who, first_name=who.title(), email=email, preferred_store="Lyon")
        inp.event(f"e-{who}-order", "eshop", who, "order_placed", "2024-03-02", channel="shop")
        inp.event(f"e-{who}-view", "eshop", who, "page_view", "2024-03-03", channel="web")
    inp.record("econsent", "req1", at="2024-04-01", email=ERASED_EMAIL)
    inp.event("e-gone-erasure", "econsent", "req1", "erasure_requested", "2024-04-01")
    return inp
