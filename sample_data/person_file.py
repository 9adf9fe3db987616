"""A FEBRL-style file of person records with duplicates, for testing a matcher.

The FEBRL data sets (Christen's Freely Extensible Biomedical Record Linkage)
hold original person records and duplicates of them with typos (inserted,
deleted, substituted or transposed characters), missing values, and digits
mistyped in dates of birth, postcodes and social security numbers. This module
makes files of the same shape (columns rec_id, given_name, surname,
street_number, address_1, address_2, suburb, postcode, state, date_of_birth,
soc_sec_id, plus the true cluster ``cluster_id``), deterministic per seed and
with nicknames and swapped names added, so ``ferry fuzzy evaluate-file`` can be
tried and tested without network access or the real data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

GIVEN = [
    "james",
    "john",
    "robert",
    "michael",
    "william",
    "david",
    "richard",
    "joseph",
    "thomas",
    "charles",
    "christopher",
    "daniel",
    "matthew",
    "anthony",
    "mark",
    "donald",
    "steven",
    "paul",
    "andrew",
    "joshua",
    "kenneth",
    "kevin",
    "brian",
    "george",
    "timothy",
    "ronald",
    "edward",
    "jason",
    "jeffrey",
    "ryan",
    "jacob",
    "gary",
    "nicholas",
    "eric",
    "jonathan",
    "stephen",
    "larry",
    "justin",
    "scott",
    "brandon",
    "benjamin",
    "samuel",
    "gregory",
    "alexander",
    "patrick",
    "frank",
    "raymond",
    "jack",
    "dennis",
    "jerry",
    "mary",
    "patricia",
    "jennifer",
    "linda",
    "elizabeth",
    "barbara",
    "susan",
    "jessica",
    "sarah",
    "karen",
    "lisa",
    "nancy",
    "betty",
    "margaret",
    "sandra",
    "ashley",
    "kimberly",
    "emily",
    "donna",
    "michelle",
    "carol",
    "amanda",
    "dorothy",
    "melissa",
    "deborah",
    "stephanie",
    "rebecca",
    "sharon",
    "laura",
    "cynthia",
    "kathleen",
    "amy",
    "angela",
    "shirley",
    "anna",
    "brenda",
    "pamela",
    "emma",
    "nicole",
    "helen",
    "samantha",
    "katherine",
    "christine",
    "debra",
    "rachel",
    "carolyn",
    "janet",
    "catherine",
    "maria",
    "heather",
    "chloe",
    "olivia",
    "isabella",
    "charlotte",
    "mia",
    "sophie",
    "ella",
    "grace",
    "lily",
    "ruby",
    "zoe",
    "hannah",
]
SURNAMES = [
    "smith",
    "jones",
    "williams",
    "brown",
    "wilson",
    "taylor",
    "johnson",
    "white",
    "martin",
    "anderson",
    "thompson",
    "nguyen",
    "thomas",
    "walker",
    "harris",
    "lee",
    "ryan",
    "robinson",
    "kelly",
    "king",
    "davis",
    "wright",
    "evans",
    "roberts",
    "green",
    "hall",
    "wood",
    "jackson",
    "clarke",
    "patel",
    "khan",
    "lewis",
    "james",
    "phillips",
    "mitchell",
    "campbell",
    "turner",
    "murphy",
    "cooper",
    "edwards",
    "baker",
    "morris",
    "hill",
    "young",
    "allen",
    "scott",
    "stewart",
    "ward",
    "clark",
    "moore",
    "collins",
    "bennett",
    "parker",
    "cook",
    "miller",
    "richardson",
    "graham",
    "reid",
    "morgan",
    "hughes",
    "watson",
    "bell",
    "mcdonald",
    "russell",
    "hunt",
    "price",
    "shaw",
    "lloyd",
    "jenkins",
    "kennedy",
    "ross",
    "butler",
    "wallace",
    "burns",
    "hamilton",
    "ellis",
    "webb",
    "gray",
    "barnes",
    "grant",
    "chapman",
    "mason",
    "dixon",
    "stevens",
    "fraser",
    "marshall",
    "holmes",
    "gibson",
    "palmer",
    "ryder",
    "fitzgerald",
    "ballard",
    "donovan",
    "kowalski",
    "papadopoulos",
    "rossi",
    "schmidt",
    "novak",
    "dimitriou",
    "oconnor",
    "sullivan",
    "mcpherson",
    "lachlan",
    "whitfield",
    "harrington",
    "beaumont",
    "carmichael",
]
STREETS = [
    "wilkins street",
    "macquarie street",
    "george street",
    "pitt street",
    "elizabeth street",
    "king street",
    "bourke street",
    "collins street",
    "flinders lane",
    "swanston street",
    "chapel street",
    "victoria road",
    "parramatta road",
    "military road",
    "pacific highway",
    "canning highway",
    "stirling terrace",
    "hay street",
    "murray street",
    "adelaide terrace",
    "north terrace",
    "rundle street",
    "brunswick street",
    "ann street",
    "queen street",
    "wickham terrace",
    "boundary road",
    "station street",
    "church street",
    "high street",
    "main road",
    "park avenue",
    "beach road",
    "river road",
    "hill street",
    "bridge road",
    "mort street",
    "sturt place",
    "mcmillan crescent",
    "burnie street",
    "jarrahdale road",
    "kelvin grove",
]
ADDRESS_2 = [
    "kooltuo",
    "rosetta village",
    "sunset lodge",
    "the gables",
    "garden court",
    "milton park",
    "st andrews",
    "glenwood",
    "fairview",
    "hillcrest",
    "ocean view",
    "riverside",
    "greenhill",
    "wattle grove",
]
SUBURBS = (
    ("bondi", "2026", "nsw"),
    ("parramatta", "2150", "nsw"),
    ("penrith", "2750", "nsw"),
    ("newcastle", "2300", "nsw"),
    ("wollongong", "2500", "nsw"),
    ("dubbo", "2830", "nsw"),
    ("fitzroy", "3065", "vic"),
    ("st kilda", "3182", "vic"),
    ("geelong", "3220", "vic"),
    ("ballarat", "3350", "vic"),
    ("bendigo", "3550", "vic"),
    ("toorak", "3142", "vic"),
    ("toowoomba", "4350", "qld"),
    ("cairns", "4870", "qld"),
    ("townsville", "4810", "qld"),
    ("southport", "4215", "qld"),
    ("fremantle", "6160", "wa"),
    ("joondalup", "6027", "wa"),
    ("bunbury", "6230", "wa"),
    ("glenelg", "5045", "sa"),
    ("mount gambier", "5290", "sa"),
    ("hobart", "7000", "tas"),
    ("launceston", "7250", "tas"),
    ("braddon", "2612", "act"),
    ("belconnen", "2617", "act"),
    ("darwin", "0800", "nt"),
    ("palmerston", "0830", "nt"),
)
NICKNAMES = {
    "robert": "bob",
    "william": "bill",
    "richard": "dick",
    "james": "jim",
    "michael": "mike",
    "thomas": "tom",
    "christopher": "chris",
    "daniel": "dan",
    "matthew": "matt",
    "anthony": "tony",
    "joseph": "joe",
    "elizabeth": "liz",
    "margaret": "maggie",
    "katherine": "kate",
    "jennifer": "jen",
    "rebecca": "becky",
    "samantha": "sam",
    "alexander": "alex",
    "benjamin": "ben",
    "nicholas": "nick",
    "patricia": "patty",
    "deborah": "debbie",
    "stephen": "steve",
    "edward": "ed",
    "kenneth": "ken",
}
KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"
# The columns of a FEBRL file, in order (the true cluster comes after them).
FEBRL_FILE_COLUMNS: tuple[str, ...] = (
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)


def _typo(rng: np.random.Generator, value: str | None, alphabet: str = KEYBOARD) -> str | None:
    """One character inserted, deleted, substituted or two transposed."""
    if not value or len(value) < 2:
        return value
    p = int(rng.integers(0, len(value)))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return value[:p] + alphabet[int(rng.integers(0, len(alphabet)))] + value[p:]
    if kind == 1:
        return value[:p] + value[p + 1 :]
    if kind == 2:
        return value[:p] + alphabet[int(rng.integers(0, len(alphabet)))] + value[p + 1 :]
    p = min(p, len(value) - 2)
    return value[:p] + value[p + 1] + value[p] + value[p + 2 :]


# Variants that make the small vocabularies above as varied as a real register
# (thousands of surnames and suburbs), so blocks stay small at a million records.
SURNAME_ENDINGS = ("", "", "", "son", "ley", "ton", "wood", "field", "ford", "ham", "well", "by")
SUBURB_PREFIXES = (
    "",
    "",
    "north ",
    "south ",
    "east ",
    "west ",
    "mount ",
    "port ",
    "glen ",
    "upper ",
)


def _originals(rng: np.random.Generator, n: int) -> list[dict[str, str | None]]:
    out = []
    for _ in range(n):
        base, base_postcode, state = SUBURBS[int(rng.integers(0, len(SUBURBS)))]
        k = int(rng.integers(0, len(SUBURB_PREFIXES)))
        suburb = SUBURB_PREFIXES[k] + base
        postcode = f"{(int(base_postcode) + 3 * k) % 10000:04d}"
        year = int(rng.integers(1920, 2005))
        month = int(rng.integers(1, 13))
        day = int(rng.integers(1, 29))
        out.append(
            {
                "given_name": GIVEN[int(rng.integers(0, len(GIVEN)))],
                "surname": SURNAMES[int(rng.integers(0, len(SURNAMES)))]
                + SURNAME_ENDINGS[int(rng.integers(0, len(SURNAME_ENDINGS)))],
                "street_number": str(int(rng.integers(1, 400))),
                "address_1": STREETS[int(rng.integers(0, len(STREETS)))],
                "address_2": ADDRESS_2[int(rng.integers(0, len(ADDRESS_2)))]
                if rng.random() < 0.4
                else None,
                "suburb": suburb,
                "postcode": postcode,
                "state": state,
                "date_of_birth": f"{year:04d}{month:02d}{day:02d}",
                "soc_sec_id": str(int(rng.integers(1_000_000, 9_999_999))),
            }
        )
    return out


def _corrupt(rng: np.random.Generator, rec: dict[str, str | None], max_changes: int) -> dict:
    """A duplicate: 1 to max_changes modifications, FEBRL-style, plus nicknames/swaps."""
    dup = dict(rec)
    for _ in range(int(rng.integers(1, max_changes + 1))):
        what = rng.choice(
            [
                "given_name",
                "surname",
                "street_number",
                "address_1",
                "suburb",
                "postcode",
                "date_of_birth",
                "soc_sec_id",
                "missing",
                "nickname",
                "swap",
            ],
            p=[0.16, 0.16, 0.06, 0.1, 0.08, 0.08, 0.1, 0.08, 0.1, 0.05, 0.03],
        )
        if what == "missing":
            field = rng.choice(
                [
                    "given_name",
                    "surname",
                    "address_1",
                    "address_2",
                    "suburb",
                    "postcode",
                    "date_of_birth",
                    "soc_sec_id",
                    "street_number",
                ]
            )
            dup[str(field)] = None
        elif what == "nickname":
            name = dup["given_name"]
            dup["given_name"] = NICKNAMES.get(name or "", _typo(rng, name))
        elif what == "swap":
            dup["given_name"], dup["surname"] = dup["surname"], dup["given_name"]
        elif what in ("date_of_birth", "postcode", "soc_sec_id", "street_number"):
            value = dup[str(what)]
            if value and rng.random() < 0.3 and what == "date_of_birth":
                dup["date_of_birth"] = value[:4] + value[6:8] + value[4:6]  # day/month swapped
            else:
                dup[str(what)] = _typo(rng, value, "0123456789")
        else:
            dup[str(what)] = _typo(rng, dup[str(what)])
    if dup == rec:  # every change fell on a missing value: change a name
        dup["surname"] = _typo(rng, rec["surname"])
    return dup


def person_file_table(
    originals: int = 2000,
    duplicates: int = 3000,
    seed: int = 7,
    max_per_original: int = 5,
    max_changes: int = 3,
) -> pa.Table:
    """Originals and duplicates (at most ``max_per_original`` per original, most
    originals having one or none), shuffled, with rec_id and cluster_id."""
    rng = np.random.default_rng(seed)
    base = _originals(rng, originals)
    # Zipf-like: few originals get many duplicates
    weights = 1.0 / np.arange(1, originals + 1) ** 0.3
    owner = rng.choice(originals, size=duplicates, p=weights / weights.sum())
    counts = np.bincount(owner, minlength=originals)
    counts = np.minimum(counts, max_per_original)
    rows: list[dict] = []
    for i, rec in enumerate(base):
        rows.append({"rec_id": f"rec-{i}-org", "cluster_id": f"c{i}", **rec})
        for k in range(int(counts[i])):
            rows.append(
                {
                    "rec_id": f"rec-{i}-dup-{k}",
                    "cluster_id": f"c{i}",
                    **_corrupt(rng, rec, max_changes),
                }
            )
    order = rng.permutation(len(rows))
    rows = [rows[j] for j in order]
    columns = [*FEBRL_FILE_COLUMNS, "cluster_id"]
    return pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in columns})


def write_person_file(path: str | Path, **kwargs: int) -> Path:
    """Write :func:`person_file_table` as CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(person_file_table(**kwargs), path)
    return path
