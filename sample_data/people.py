"""The true population: one row per real person, before any source sees them.

Every source draws its records from these people and then damages them (see
``mess.py``); the person index is what ``raw.ground_truth`` records.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from sample_data import vocab
from sample_data.names import draw_first_names, draw_last_names


def ascii_fold(text: str) -> str:
    """Strip accents and non-alphanumerics, as people do when they make up an email."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _fold(values: np.ndarray) -> np.ndarray:
    """ascii_fold over an array, computed once per distinct value (names repeat a lot)."""
    uniq, inverse = np.unique(values.astype(str), return_inverse=True)
    return np.array([ascii_fold(v) for v in uniq], dtype=object)[inverse]


@dataclass
class Population:
    """Column arrays (length = number of people); object arrays hold str or None."""

    n: int
    person_id: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    birth_date: np.ndarray  # datetime64[D]
    email: np.ndarray  # personal email, unique
    alt_email: np.ndarray  # a second private address, unique, used by fuzzy duplicates
    work_email: np.ndarray  # None without a company
    primary_email: (
        np.ndarray
    )  # what the person gives business-facing tools: work (70% of B2B) or personal
    mobile: np.ndarray  # E.164, unique
    home_phone: np.ndarray  # E.164 landline, shared within a household, or None
    household: np.ndarray  # household index (== own index when living alone)
    street: np.ndarray
    old_street: np.ndarray  # previous address (movers), else None
    city: np.ndarray
    old_city: np.ndarray
    postcode: np.ndarray
    old_postcode: np.ndarray
    country: np.ndarray
    company: np.ndarray
    company_domain: np.ndarray
    job_title: np.ndarray
    preferred_store: np.ndarray
    interest: np.ndarray  # main product category (drives browsing and orders)
    activity: np.ndarray  # 0..1 propensity to interact


def _unique(values: np.ndarray, suffix_source: np.ndarray) -> np.ndarray:
    """Make strings unique by appending a number to later duplicates (people do: jean.martin2)."""
    _, first_idx, inverse = np.unique(values.astype(str), return_index=True, return_inverse=True)
    dup = first_idx[inverse] != np.arange(len(values))
    out = values.copy()
    out[dup] = [
        v.replace("@", f"{s}@", 1) for v, s in zip(values[dup], suffix_source[dup], strict=True)
    ]
    return out


def _national_digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return np.char.zfill(rng.integers(0, 10**width, n).astype(str), width).astype(object)


def build_population(rng: np.random.Generator, n: int, as_of: np.datetime64) -> Population:
    idx = np.arange(n)
    person_id = np.char.add("P", np.char.zfill(idx.astype(str), 7)).astype(object)
    female = rng.random(n) < 0.5
    first = draw_first_names(rng, female)
    last = draw_last_names(rng, n)
    age_days = rng.integers(18 * 365, 80 * 365, n)
    birth = (as_of.astype("datetime64[D]") - age_days.astype("timedelta64[D]")).astype(
        "datetime64[D]"
    )

    # Households: ~12% of people live with 1-5 others and share a landline.
    household = idx.copy()
    in_house = np.flatnonzero(rng.random(n) < 0.12)
    if len(in_house) > 1:
        sizes = rng.integers(2, 7, len(in_house))
        heads = in_house[np.cumsum(sizes) - sizes < len(in_house)]
        group = np.repeat(heads, sizes[: len(heads)])[: len(in_house)]
        household[in_house] = group
        last[in_house] = last[group]  # families share a last name (mostly)
        # nor do parents give two children one first name: redraw repeats
        pools = {True: vocab.FIRST_NAMES_F, False: vocab.FIRST_NAMES_M}
        taken: dict[int, set[str]] = {}
        for i in in_house[np.argsort(group, kind="stable")]:
            names = taken.setdefault(int(household[i]), set())
            pool = pools[bool(female[i])]
            tries = 0
            while first[i] in names and tries < 20:
                first[i] = pool[int(rng.integers(0, len(pool)))]
                tries += 1
            names.add(first[i])

    city_idx = rng.integers(0, len(vocab.CITIES), n)
    # Mostly French: re-draw foreign cities for 85% of people.
    fr = rng.random(n) < 0.85
    city_idx[fr] = rng.integers(0, 15, fr.sum())
    city_idx = city_idx[household]
    cities = np.array([c[0] for c in vocab.CITIES], dtype=object)
    prefixes = np.array([c[1] for c in vocab.CITIES], dtype=object)
    countries = np.array([c[2] for c in vocab.CITIES], dtype=object)
    area = np.array([c[3] for c in vocab.CITIES], dtype=object)
    city = cities[city_idx]
    country = countries[city_idx]
    postcode = prefixes[city_idx] + "0" + rng.integers(0, 10, n).astype(str).astype(object)
    postcode = np.where(country == "GB", prefixes[city_idx] + "4AB", postcode)
    postcode = postcode[household]
    street_no = rng.integers(1, 180, n).astype(str).astype(object)
    street = (
        street_no
        + " "
        + np.array(vocab.STREETS, dtype=object)[rng.integers(0, len(vocab.STREETS), n)]
    )
    street = street[household]

    movers = rng.random(n) < 0.08
    old_idx = rng.integers(0, 15, n)
    old_street = np.where(
        movers,
        rng.integers(1, 180, n).astype(str).astype(object)
        + " "
        + np.array(vocab.STREETS, dtype=object)[rng.integers(0, len(vocab.STREETS), n)],
        None,
    )
    old_city = np.where(movers, cities[old_idx], None)
    old_postcode = np.where(
        movers, prefixes[old_idx] + "0" + rng.integers(0, 10, n).astype(str).astype(object), None
    )

    f_fold, l_fold = _fold(first), _fold(last)
    pattern = rng.integers(0, 4, n)
    yy = np.char.zfill((birth.astype("datetime64[Y]").astype(int) % 100).astype(str), 2).astype(
        object
    )
    local = np.select(
        [pattern == 0, pattern == 1, pattern == 2],
        [
            f_fold + "." + l_fold,
            f_fold.astype(str).astype("U1").astype(object) + l_fold,
            f_fold + "_" + l_fold + yy,
        ],
        f_fold + l_fold + yy,
    )
    domains = np.array(vocab.PERSONAL_DOMAINS, dtype=object)[
        rng.integers(0, len(vocab.PERSONAL_DOMAINS), n)
    ]
    email = _unique(local + "@" + domains, idx.astype(str).astype(object))
    alt_dom = np.array(vocab.ALT_DOMAINS, dtype=object)[rng.integers(0, len(vocab.ALT_DOMAINS), n)]
    alt_email = _unique(l_fold + "." + f_fold + yy + "@" + alt_dom, idx.astype(str).astype(object))

    has_company = rng.random(n) < 0.35
    comp_idx = rng.integers(0, len(vocab.COMPANIES), n)
    company = np.where(
        has_company, np.array([c[0] for c in vocab.COMPANIES], dtype=object)[comp_idx], None
    )
    company_domain = np.where(
        has_company, np.array([c[1] for c in vocab.COMPANIES], dtype=object)[comp_idx], None
    )
    work_email = np.where(
        has_company,
        _unique(
            f_fold + "." + l_fold + "@" + company_domain.astype(str), idx.astype(str).astype(object)
        ),
        None,
    )
    job_title = np.where(
        has_company,
        np.array(vocab.JOB_TITLES, dtype=object)[rng.integers(0, len(vocab.JOB_TITLES), n)],
        None,
    )

    # Unique mobiles: (i * a + b) mod M with a coprime to M is a bijection, so numbers
    # are unique without shuffling a 100M range. M keeps French mobiles in
    # +33 600..637 (libphonenumber-valid ranges; 639 and 69x are not all valid).
    a, b = 48_271_337, int(rng.integers(0, 10**7))
    s8 = np.char.zfill(((idx.astype(np.int64) * a + b) % 38_000_000).astype(str), 8).astype(object)
    s7 = np.char.zfill(((idx.astype(np.int64) * a + b) % 10**7).astype(str), 7).astype(object)
    mobile = np.select(
        [country == "FR", country == "BE", country == "DE"],
        ["+336" + s8, "+3247" + s7, "+49151" + s8],
        "+4475" + s8,
    )
    landline = np.where(
        (country == "FR") & (area[city_idx] != ""),
        "+33"
        + area[city_idx]
        + rng.choice(np.array(list("123457"), dtype=object), n)
        + _national_digits(rng, n, 7),
        None,
    )
    # Households share the head's landline; 10% of people living alone give one too.
    shared = np.isin(household, household[household != idx])
    home_phone = np.where(shared | (rng.random(n) < 0.1), landline[household], None)

    cats = np.array(list(vocab.CATEGORIES), dtype=object)
    return Population(
        n=n,
        person_id=person_id,
        first_name=first,
        last_name=last,
        birth_date=birth,
        email=email,
        alt_email=alt_email,
        work_email=work_email,
        primary_email=np.where(
            np.not_equal(work_email, None) & (rng.random(n) < 0.7), work_email, email
        ),
        mobile=mobile,
        home_phone=home_phone,
        household=household,
        street=street,
        old_street=old_street,
        city=city,
        old_city=old_city,
        postcode=postcode,
        old_postcode=old_postcode,
        country=country,
        company=company,
        company_domain=company_domain,
        job_title=job_title,
        preferred_store=np.array(vocab.STORES, dtype=object)[rng.integers(0, len(vocab.STORES), n)],
        interest=cats[rng.integers(0, len(cats), n)],
        activity=rng.beta(2, 3, n),
    )
