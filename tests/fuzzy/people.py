"""A small, seeded population of person records with known duplicates.

Test-only stand-in used to train and check the matcher in isolation from the
project generator: each person gets one to three records in different sources,
with the mess fuzzy matching exists for (typos, nicknames, swapped names,
moved house, new e-mail, phone formats), plus families that must stay apart
(twins, parent and child with the same name).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import pyarrow as pa

FIRST = [
    "robert", "william", "elizabeth", "katherine", "james", "michael", "thomas",
    "marie", "camille", "nicolas", "sebastien", "isabelle", "stephanie", "julien",
    "antoine", "emmanuel", "valerie", "patrick", "christophe", "sandrine", "lucas",
    "chloe", "manon", "hugo", "louis", "lea", "ines", "arthur", "jules", "emma",
    "sophie", "nathalie", "olivier", "pierre", "laurent", "anne", "celine", "david",
    "daniel", "samuel", "benjamin", "margaret", "andrew", "joseph", "anthony",
]
NICK = {
    "robert": "bob", "william": "bill", "elizabeth": "liz", "katherine": "kate",
    "james": "jim", "michael": "mike", "thomas": "tom", "nicolas": "nico",
    "sebastien": "seb", "isabelle": "isa", "stephanie": "steph", "emmanuel": "manu",
    "valerie": "val", "patrick": "pat", "christophe": "chris", "daniel": "dan",
    "samuel": "sam", "benjamin": "ben", "margaret": "maggie", "andrew": "andy",
    "joseph": "joe", "anthony": "tony", "david": "dave",
}
LAST = [
    "martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand",
    "leroy", "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david",
    "bertrand", "roux", "vincent", "fournier", "morel", "girard", "andre", "lefevre",
    "mercier", "dupont", "lambert", "bonnet", "francois", "martinez", "legrand",
    "garnier", "faure", "rousseau", "blanc", "guerin", "muller", "henry", "roussel",
    "nicolas", "perrin", "morin", "mathieu", "clement", "gauthier", "dumont", "lopez",
    "fontaine", "chevalier", "robin", "masson", "sanchez", "gerard", "nguyen", "boyer",
    "denis", "lemaire", "duval", "joly", "gautier", "roger", "roche", "roy", "noel",
    "meyer", "lucas", "meunier", "jean", "perez", "marchand", "dufour", "blanchard",
    "marie", "barbier", "brun", "dumas", "brunet", "schmitt", "leroux", "colin",
]
STREETS = [
    "rue de la paix", "avenue victor hugo", "boulevard voltaire", "rue des lilas",
    "rue pasteur", "chemin des vignes", "rue de la republique", "allee des tilleuls",
    "rue jean jaures", "place de la mairie", "rue du moulin", "impasse des roses",
    "rue de l eglise", "avenue de la gare", "rue des ecoles", "route de lyon",
]
CITIES = [
    ("paris", "75011"), ("paris", "75015"), ("lyon", "69003"), ("marseille", "13008"),
    ("toulouse", "31000"), ("nantes", "44000"), ("lille", "59000"), ("rennes", "35000"),
    ("bordeaux", "33000"), ("nice", "06000"), ("strasbourg", "67000"), ("grenoble", "38000"),
]
DOMAINS = ["gmail.com", "yahoo.fr", "orange.fr", "free.fr", "hotmail.com", "laposte.net"]
SOURCES = ["crm", "shop", "support", "newsletter"]


@dataclass
class Person:
    person_id: str
    first_name: str
    last_name: str
    birth_date: dt.date
    street: str
    city: str
    postcode: str
    email: str
    phone: str


def typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word + rng.choice("aeiou")
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # substitution
        return word[:i] + rng.choice("abcdefghilmnoprstu") + word[i + 1 :]
    if kind == 1:  # deletion
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # transposition


def _phone(rng: random.Random) -> str:
    return "+336" + "".join(rng.choice("0123456789") for _ in range(8))


def _email(rng: random.Random, first: str, last: str) -> str:
    local = rng.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}{last}{rng.randint(1, 99)}"])
    return f"{local}@{rng.choice(DOMAINS)}"


def _new_person(rng: random.Random, pid: str) -> Person:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, postcode = rng.choice(CITIES)
    return Person(
        person_id=pid,
        first_name=first,
        last_name=last,
        birth_date=dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 65)),
        street=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
        city=city,
        postcode=postcode,
        email=_email(rng, first, last),
        phone=_phone(rng),
    )


def _variant(rng: random.Random, p: Person) -> dict:
    """Another record of the same person, with realistic differences."""
    first, last = p.first_name, p.last_name
    street, city, postcode = p.street, p.city, p.postcode
    email, phone, birth = p.email, p.phone, p.birth_date.isoformat()
    r = rng.random()
    if r < 0.25:
        first = typo(rng, first)
    elif r < 0.4 and first in NICK:
        first = NICK[first]
    elif r < 0.5:
        last = typo(rng, last)
    elif r < 0.56:
        first, last = last, first
    if rng.random() < 0.3:  # moved house
        street = f"{rng.randint(1, 120)} {rng.choice(STREETS)}"
        city, postcode = rng.choice(CITIES)
    if rng.random() < 0.5:  # another e-mail address
        email = _email(rng, p.first_name, p.last_name) if rng.random() < 0.5 else None
    if rng.random() < 0.4:
        phone = None if rng.random() < 0.5 else "0" + p.phone[3:]  # national format
    if rng.random() < 0.05:
        birth = typo(rng, birth.replace("-", ""))
        birth = f"{birth[:4]}-{birth[4:6]}-{birth[6:8]}"
        try:
            dt.date.fromisoformat(birth)
        except ValueError:
            birth = p.birth_date.isoformat()
    elif rng.random() < 0.1:
        birth = None
    if rng.random() < 0.2:
        first = first.upper() if rng.random() < 0.5 else first.title()
    return {
        "first_name": first, "last_name": last, "birth_date": birth, "street": street,
        "city": city, "postcode": postcode, "email": email, "phone": phone,
    }


def population(n_people: int, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    """(person records, ground truth) for ``n_people`` people."""
    rng = random.Random(seed)
    rows: list[dict] = []
    truth: list[dict] = []
    counters = {s: 0 for s in SOURCES}

    def add(person_id: str, source: str, fields: dict) -> None:
        counters[source] += 1
        rid = f"{source[:2]}{counters[source]:07d}"
        rows.append({"source": source, "source_record_id": rid, **fields})
        truth.append({"source": source, "source_record_id": rid, "person_id": person_id})

    people: list[Person] = []
    for i in range(n_people):
        p = _new_person(rng, f"p{i:06d}")
        people.append(p)
        if rng.random() < 0.03:  # twins: same family, address, birth date
            twin = Person(**{**p.__dict__, "person_id": f"t{i:06d}"})
            twin.first_name = rng.choice([f for f in FIRST if f != p.first_name])
            twin.email = _email(rng, twin.first_name, twin.last_name)
            twin.phone = _phone(rng)
            people.append(twin)
        if rng.random() < 0.03:  # parent and child with the same name
            child = Person(**{**p.__dict__, "person_id": f"c{i:06d}"})
            child.birth_date = p.birth_date + dt.timedelta(days=rng.randint(20, 35) * 365)
            child.email = _email(rng, child.first_name, child.last_name)
            child.phone = _phone(rng)
            people.append(child)
    for p in people:
        sources = rng.sample(SOURCES, k=rng.choice([1, 1, 2, 2, 3]))
        first = {
            "first_name": p.first_name, "last_name": p.last_name,
            "birth_date": p.birth_date.isoformat(), "street": p.street, "city": p.city,
            "postcode": p.postcode, "email": p.email, "phone": p.phone,
        }
        add(p.person_id, sources[0], first)
        for source in sources[1:]:
            add(p.person_id, source, _variant(rng, p))
    return pa.Table.from_pylist(rows), pa.Table.from_pylist(truth)
