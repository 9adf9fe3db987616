"""Person files that Ferry's own generator did not make, for the identity benchmark.

Independent on purpose, so the benchmark does not grade Ferry on its own noise:
- names and places from Faker's en_US, de_DE and it_IT providers (Ferry's sample data
  draws from its own French vocabulary and fr_FR / fr_BE / en_GB);
- its own noise model, field by field and independent across fields (Ferry's
  generator picks one or two variations per duplicate): OCR-like letter confusions
  (rn/m, cl/d, li/h), phonetic respellings (ph/f, y/i, ck/k, doubled letters), an
  initial for the first name, English diminutives, a double surname shortened,
  street types abbreviated the American way (Street/St, Avenue/Ave, Road/Rd,
  Drive/Dr), house numbers and postcodes mistyped, movers, US-style birth dates
  with day and month swapped, a year off by one, missing values;
- twins: 1.5% of people have a twin in the file (same last name, birth date and
  address, another first name): a different person, the hardest false match;
- first names replaced by a middle name on 2% of duplicates (the same person).

Columns: rec_id, first_name, last_name, birth_date (ISO), street, city, postcode,
national_id (optional), person (true cluster), kind (original / duplicate / twin /
first_name_replaced). Deterministic per seed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from faker import Faker

LOCALES = ["en_US", "de_DE", "it_IT"]
DIMINUTIVES = {
    "William": "Will", "Elizabeth": "Beth", "Katherine": "Kathy", "Jennifer": "Jenny",
    "Christopher": "Chris", "Jonathan": "Jon", "Nicholas": "Nick", "Margaret": "Peggy",
    "Robert": "Rob", "Michael": "Mick", "Alexander": "Sasha", "Giuseppe": "Beppe",
    "Francesco": "Franco", "Johannes": "Hannes", "Wolfgang": "Wolf", "Andreas": "Andi",
    "Stefanie": "Steffi", "Susanne": "Susi", "Roberto": "Berto", "Elisabetta": "Betta",
    "Rebecca": "Becca", "Daniel": "Danny", "Matthew": "Matt", "Benjamin": "Benji",
    "Samantha": "Sammy", "Patricia": "Trish", "Anthony": "Ant", "Joseph": "Joey",
}  # fmt: skip
STREET_TYPES = {"Street": "St", "Avenue": "Ave", "Road": "Rd", "Drive": "Dr", "Lane": "Ln",
                "Court": "Ct", "Boulevard": "Blvd", "Straße": "Str.", "Strasse": "Str.",
                "Gasse": "G.", "Via": "V.", "Viale": "V.le", "Piazza": "P.za"}  # fmt: skip
OCR = (("rn", "m"), ("m", "rn"), ("cl", "d"), ("li", "h"), ("e", "c"), ("u", "v"))
PHONETIC = (("ph", "f"), ("y", "i"), ("ck", "k"), ("ie", "y"), ("tt", "t"), ("ll", "l"),
            ("ss", "s"), ("c", "k"), ("z", "s"), ("ei", "ai"))  # fmt: skip
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _edit(rng: np.random.Generator, value: str, alphabet: str = LETTERS) -> str:
    """One random insertion, deletion or substitution (no transpositions: Ferry's
    generator favours those)."""
    if len(value) < 2:
        return value
    p = int(rng.integers(0, len(value)))
    kind = int(rng.integers(0, 3))
    c = alphabet[int(rng.integers(0, len(alphabet)))]
    if kind == 0:
        return value[:p] + c + value[p:]
    if kind == 1:
        return value[:p] + value[p + 1 :]
    return value[:p] + c + value[p + 1 :]


def _rewrite(rng: np.random.Generator, value: str, rules) -> str:
    found = [(a, b) for a, b in rules if a in value.lower()]
    if not found:
        return _edit(rng, value)
    a, b = found[int(rng.integers(0, len(found)))]
    at = value.lower().find(a)
    out = value[:at] + b + value[at + len(a) :]
    return out if value[:1].isupper() is False else out[:1].upper() + out[1:]


def _abbreviate(rng: np.random.Generator, street: str) -> str:
    for full, short in STREET_TYPES.items():
        if full in street:
            return street.replace(full, short, 1)
        if short in street.split():
            return street.replace(short, full, 1)
    return _edit(rng, street)


def _originals(rng: np.random.Generator, fake: Faker, n: int, with_id: bool) -> list[dict]:
    start = dt.date(1935, 1, 1).toordinal()
    out = []
    for i in range(n):
        first, last = fake.first_name(), fake.last_name()
        if rng.random() < 0.06:
            last = f"{last}-{fake.last_name()}"
        out.append(
            {
                "person": f"P{i:07d}",
                "first_name": first,
                "middle_name": fake.first_name(),
                "last_name": last,
                "birth_date": dt.date.fromordinal(start + int(rng.integers(0, 72 * 365))),
                "street": f"{fake.building_number()} {fake.street_name()}",
                "city": fake.city(),
                "postcode": fake.postcode(),
                "national_id": f"{int(rng.integers(100_000_000, 999_999_999))}"
                if with_id
                else None,
            }
        )
    return out


def _duplicate(rng: np.random.Generator, fake: Faker, rec: dict) -> tuple[dict, str]:
    """Each field damaged on its own, as records typed again by someone else are."""
    d = dict(rec)
    kind = "duplicate"
    r = rng.random
    if r() < 0.02:
        d["first_name"], kind = rec["middle_name"], "first_name_replaced"
    elif r() < 0.05 and rec["first_name"] in DIMINUTIVES:
        d["first_name"] = DIMINUTIVES[rec["first_name"]]
    elif r() < 0.03:
        d["first_name"] = rec["first_name"][0] + "."
    elif r() < 0.16:
        d["first_name"] = _rewrite(rng, d["first_name"], OCR if r() < 0.5 else PHONETIC)
    elif r() < 0.05:
        d["first_name"] = _edit(rng, d["first_name"])
    if r() < 0.18:
        d["last_name"] = _rewrite(rng, d["last_name"], OCR if r() < 0.4 else PHONETIC)
    elif "-" in d["last_name"] and r() < 0.5:
        d["last_name"] = d["last_name"].split("-")[0]
    if r() < 0.02:
        d["first_name"], d["last_name"] = d["last_name"], d["first_name"]
    b: dt.date = rec["birth_date"]
    roll = r()
    if roll < 0.04 and b.day <= 12:
        d["birth_date"] = dt.date(b.year, b.day, b.month)
    elif roll < 0.07:
        d["birth_date"] = b.replace(year=b.year + (1 if r() < 0.5 else -1), day=min(b.day, 28))
    elif roll < 0.10:
        day = min(28, max(1, b.day + int(rng.choice([-10, -1, 1, 10]))))
        d["birth_date"] = b.replace(day=day)
    if r() < 0.06:  # moved
        d["street"] = f"{fake.building_number()} {fake.street_name()}"
        d["city"], d["postcode"] = fake.city(), fake.postcode()
    else:
        if r() < 0.25:
            d["street"] = _abbreviate(rng, d["street"])
        if r() < 0.05:
            number, _, rest = d["street"].partition(" ")
            d["street"] = f"{_edit(rng, number, '0123456789')} {rest}"
        if r() < 0.05 and d["postcode"]:
            d["postcode"] = _edit(rng, d["postcode"], "0123456789")
    if d["national_id"] is not None and r() < 0.04:
        d["national_id"] = _edit(rng, d["national_id"], "0123456789")
    for column, p in (("first_name", 0.03), ("last_name", 0.01), ("birth_date", 0.06),
                      ("street", 0.05), ("city", 0.03), ("postcode", 0.05), ("national_id", 0.1)):  # fmt: skip
        if r() < p:
            d[column] = None
    return d, kind


def person_file(
    records: int, seed: int, *, with_national_id: bool, duplicate_share: float = 0.45
) -> pa.Table:
    """About ``records`` rows: originals, their duplicates (1-4 each, most one) and twins."""
    rng = np.random.default_rng(seed)
    fake = Faker(LOCALES)
    fake.seed_instance(seed)
    n = max(1, round(records * (1 - duplicate_share)))
    people = _originals(rng, fake, n, with_national_id)
    rows = [{**p, "kind": "original"} for p in people]
    for p in people[: round(n * 0.015)]:  # twins: another person in the same home
        twin = {**p, "person": p["person"] + "-twin", "first_name": fake.first_name(),
                "national_id": (f"{int(rng.integers(100_000_000, 999_999_999))}"
                                if with_national_id else None)}  # fmt: skip
        rows.append({**twin, "kind": "twin"})
    target = records - len(rows)
    sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.6, 0.25, 0.1, 0.05])
    chosen = rng.permutation(n)
    for i in chosen:
        if target <= 0:
            break
        for _ in range(min(int(sizes[i]), target)):
            dup, kind = _duplicate(rng, fake, people[i])
            rows.append({**dup, "kind": kind})
            target -= 1
    order = rng.permutation(len(rows))
    out = []
    for k, i in enumerate(order):
        row = rows[int(i)]
        out.append(
            {
                "rec_id": f"r{k:07d}",
                "first_name": row["first_name"],
                "last_name": row["last_name"],
                "birth_date": row["birth_date"].isoformat() if row["birth_date"] else None,
                "street": row["street"],
                "city": row["city"],
                "postcode": row["postcode"],
                **({"national_id": row["national_id"]} if with_national_id else {}),
                "person": row["person"],
                "kind": row["kind"],
            }
        )
    return pa.Table.from_pylist(out)


def write_person_file(path: Path, records: int, seed: int, *, with_national_id: bool) -> Path:
    pacsv.write_csv(person_file(records, seed, with_national_id=with_national_id), path)
    return path
