"""Fuzzy duplicates: the same person entered again, sharing no clean identifier.

Two kinds, as marketers meet them:

- **new contact** (most of them): the person appears in a system where they had
  no record yet (a trade-show or in-store sign-up, a contact a salesperson
  creates, a shop account opened with a private address), with a new e-mail, no
  phone, a typo'd / nicknamed / swapped name, maybe the old address of a mover,
  and the same birth date (now and then with day and month swapped). Only a
  probabilistic match can join it to the person's other records, and nothing
  forbids it: the system holds no other customer id of that person.
- **second account** (a small share): a second customer id in a system where
  the person already has one (a forgotten shop login, a second help-desk
  requester). Deterministic evidence says these are two customers of that
  system, so Ferry never merges them on a fuzzy link: they stay apart by design,
  and the evaluation reports them on their own.

With ``--crm-duplicate-share``, the CRM also holds duplicates of its own rows
(crm_internal, CRM_INTERNAL_KINDS: entered twice, names swapped, first name
replaced, no birth date, street abbreviated, postcode typo, imported twice, a lead
converted); CRM contact ids are record ids, so Ferry may merge them.

``raw.ground_truth.duplicate_kind`` says which kind each record is (see
writer.py); ``is_fuzzy_duplicate`` is true for all of them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from sample_data import mess, vocab
from sample_data.people import Population

# Share of a system's members who open a second account in it.
SECOND_ACCOUNT_SHARE = 0.01

# How a duplicate's name differs from the person's: the weights of
# (last-name typo, first-name typo, nickname, first and last swapped, as is).
NAME_VARIATIONS = np.array([0.3, 0.2, 0.25, 0.1, 0.15])

_STREET_ABBREVIATIONS = {
    "rue ": "r. ",
    "avenue ": "av. ",
    "boulevard ": "bd ",
    "place ": "pl. ",
    "chemin ": "ch. ",
    "allée ": "allee ",
    "impasse ": "imp. ",
}


def new_contacts(
    rng: np.random.Generator, base: np.ndarray, eligible: np.ndarray, share: float
) -> np.ndarray:
    """People of ``eligible`` outside ``base`` who appear once more in this system,
    about ``share`` x len(base) of them (fewer when the pool is smaller)."""
    pool = np.setdiff1d(eligible, base)
    k = min(len(pool), int(rng.binomial(len(base), min(share, 1.0)))) if share > 0 else 0
    return np.sort(rng.choice(pool, k, replace=False)) if k else np.zeros(0, np.int64)


def vary_names(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each name differs the way a person typing it again makes it differ."""
    first, last = first.copy(), last.copy()
    kind = rng.choice(len(NAME_VARIATIONS), len(first), p=NAME_VARIATIONS)
    last[kind == 0] = mess.typo(rng, last[kind == 0], 1.0)
    first[kind == 1] = mess.typo(rng, first[kind == 1], 1.0)
    nick = np.flatnonzero(kind == 2)
    for i in nick:
        alias = vocab.NICKNAMES.get(first[i])
        first[i] = alias if alias else mess.typo(rng, first[i : i + 1], 1.0)[0]
    swap = kind == 3
    first[swap], last[swap] = last[swap], first[swap].copy()
    return first, last


def addresses(
    rng: np.random.Generator,
    street: np.ndarray,
    city: np.ndarray,
    postcode: np.ndarray,
    old_street: np.ndarray,
    old_city: np.ndarray,
    old_postcode: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Movers often give the old address; others spell the street another way
    now and then (abbreviations, a typo) or leave the postcode out."""
    n = len(street)
    moved = np.not_equal(old_street, None) & (rng.random(n) < 0.6)
    street = np.where(moved, old_street, street)
    city = np.where(moved, old_city, city)
    postcode = np.where(moved, old_postcode, postcode)
    respelled = np.flatnonzero(~moved & (rng.random(n) < 0.2))
    for i in respelled:
        value = street[i]
        short = next(
            (value.replace(k, v, 1) for k, v in _STREET_ABBREVIATIONS.items() if k in value), None
        )
        street[i] = (
            short if short and rng.random() < 0.6 else mess.typo(rng, street[i : i + 1], 1.0)[0]
        )
    postcode = mess.blank(rng, postcode, 0.05)
    return street, city, postcode


def birth_dates(rng: np.random.Generator, dates: np.ndarray) -> np.ndarray:
    """The same birth date, sometimes with day and month swapped (US order) or
    the year's last digit mistyped."""
    out = dates.astype("datetime64[D]").copy()
    n = len(out)
    years = out.astype("datetime64[Y]").astype(int) + 1970
    months = out.astype("datetime64[M]").astype(int) % 12 + 1
    days = (out - out.astype("datetime64[M]")).astype(int) + 1
    roll = rng.random(n)
    swap = (roll < 0.04) & (days <= 12) & (days != months)
    year_typo = (roll >= 0.04) & (roll < 0.06)
    for i in np.flatnonzero(swap | year_typo):
        y = years[i] + (1 if years[i] % 10 < 9 else -1) * year_typo[i]
        m, d = (days[i], months[i]) if swap[i] else (months[i], days[i])
        try:
            out[i] = np.datetime64(f"{y:04d}-{m:02d}-{d:02d}")
        except ValueError:  # 29 February in a year without one: leave it
            continue
    return out


# Duplicates inside the CRM, as a real CRM holds them (contact ids are record ids:
# Ferry may merge them): the kind's name, its share of the CRM's duplicates. Each
# kind is one way a second row of the same person comes about, so a benchmark can
# report recall per kind (raw.ground_truth.duplicate_kind).
CRM_INTERNAL_KINDS = (
    "crm_entered_twice",  # two salespeople: the name retyped, the address as given
    "crm_names_swapped",  # first and last name in each other's field
    "crm_first_name_replaced",  # another first name (a second given name, a slip)
    "crm_no_birth_date",  # retyped without the birth date
    "crm_address_abbreviated",  # rue/r., avenue/av., boulevard/bd, street/st
    "crm_postcode_typo",  # one digit of the postcode mistyped
    "crm_import_twice",  # the same row imported again under a new id
    "crm_lead_converted",  # the lead row of a contact later converted
)
CRM_INTERNAL_WEIGHTS = np.array([0.25, 0.08, 0.06, 0.1, 0.1, 0.08, 0.15, 0.18])
# Kinds that only make sense on a row with a birth date (the CRM holds few).
_NEEDS_BIRTH_DATE = ("crm_first_name_replaced", "crm_no_birth_date")
_FIRST_NAMES = (frozenset(vocab.FIRST_NAMES_F), frozenset(vocab.FIRST_NAMES_M))


def _other_first_name(rng: np.random.Generator, name: str | None) -> str | None:
    """Another first name of the same gender when the name is a known one."""
    if name is None:
        return None
    pool = next((sorted(p) for p in _FIRST_NAMES if name in p), None) or [
        *vocab.FIRST_NAMES_F,
        *vocab.FIRST_NAMES_M,
    ]
    other = name
    while other == name:
        other = pool[int(rng.integers(0, len(pool)))]
    return other


def _abbreviate(rng: np.random.Generator, street: str | None) -> str | None:
    """The street with its type abbreviated; a typo where it has none to shorten."""
    if street is None:
        return None
    lowered = street.lower()
    for full, short in (*_STREET_ABBREVIATIONS.items(), ("street", "st"), ("road", "rd")):
        at = lowered.find(full)
        if at >= 0:
            return street[:at] + short + street[at + len(full) :]
    return mess.typo(rng, np.array([street], dtype=object), 1.0)[0]


def _postcode_typo(rng: np.random.Generator, postcode: str | None) -> str | None:
    if not postcode:
        return postcode
    p = int(rng.integers(0, len(postcode)))
    digit = (
        str((int(postcode[p]) + int(rng.integers(1, 10))) % 10) if postcode[p].isdigit() else "0"
    )
    return postcode[:p] + digit + postcode[p + 1 :]


def crm_internal(
    rng: np.random.Generator,
    pop: Population,
    table: pa.Table,
    idx: np.ndarray,
    dup: np.ndarray,
    share: float,
) -> tuple[pa.Table, np.ndarray, np.ndarray, np.ndarray]:
    """Append about ``share`` x the CRM's own rows as duplicates of them: (table, person
    index, duplicate flag, kind per row: None or one of CRM_INTERNAL_KINDS).

    Every retyped kind (all but the import run twice and the lead) comes without a
    phone and mostly without the e-mail (the second salesperson did not have them)
    and changes one thing of the row:

    - entered twice (two salespeople): the name retyped (typo, nickname), the address
      as a duplicate gives it (old, abbreviated, typo'd, no postcode), half without
      birth date;
    - names swapped, first name replaced (by another of the same gender), no birth
      date, street type abbreviated, one postcode digit mistyped;
    - import run twice: the same row under a new contact id;
    - a lead later converted: the lead row holds a name (nickname now and then), the
      company, half the time the e-mail, and nothing else.
    """
    own = np.flatnonzero(~dup)
    k = int(rng.binomial(len(own), min(share, 1.0))) if share > 0 else 0
    if k == 0:
        return table, idx, dup, np.full(len(idx), None, dtype=object)
    names = np.array(CRM_INTERNAL_KINDS, dtype=object)
    kind = names[rng.choice(len(CRM_INTERNAL_KINDS), k, p=CRM_INTERNAL_WEIGHTS)]
    # the kinds that change or drop a birth date copy rows that hold one
    dated = np.intersect1d(own, np.flatnonzero(table["birth_date"].is_valid().to_numpy(False)))
    needs = np.flatnonzero(np.isin(kind, _NEEDS_BIRTH_DATE))
    kind[needs[len(dated) :]] = "crm_entered_twice"
    needs = needs[: len(dated)]
    src = np.zeros(k, np.int64)
    src[needs] = rng.choice(dated, len(needs), replace=False)
    rest = np.setdiff1d(np.arange(k), needs)
    src[rest] = rng.choice(np.setdiff1d(own, src[needs]), len(rest), replace=False)
    order = np.argsort(src, kind="stable")
    src, kind = src[order], kind[order]
    person = idx[src]
    rows = {c: np.array(v, dtype=object) for c, v in table.take(pa.array(src)).to_pydict().items()}
    start = len(idx) + 1
    rows["contact_id"] = np.array([f"CRM-{start + i:06d}" for i in range(k)], dtype=object)

    retyped = np.flatnonzero(~np.isin(kind, ("crm_import_twice", "crm_lead_converted")))
    rows["email"][retyped[rng.random(len(retyped)) < 0.7]] = None
    rows["phone"][retyped] = None

    twice = np.flatnonzero(kind == "crm_entered_twice")
    first, last = vary_names(rng, pop.first_name[person[twice]], pop.last_name[person[twice]])
    swapped = first == pop.last_name[person[twice]]  # vary_names swaps a tenth: undo here
    first[swapped], last[swapped] = last[swapped], first[swapped].copy()
    rows["first_name"][twice], rows["last_name"][twice] = first, last
    street, city, postcode = addresses(
        rng,
        pop.street[person[twice]],
        pop.city[person[twice]],
        pop.postcode[person[twice]],
        pop.old_street[person[twice]],
        pop.old_city[person[twice]],
        pop.old_postcode[person[twice]],
    )
    rows["street"][twice], rows["city"][twice], rows["postcode"][twice] = street, city, postcode
    rows["birth_date"][twice[rng.random(len(twice)) < 0.5]] = None

    swap = np.flatnonzero(kind == "crm_names_swapped")
    rows["first_name"][swap], rows["last_name"][swap] = (
        rows["last_name"][swap],
        rows["first_name"][swap].copy(),
    )
    for i in np.flatnonzero(kind == "crm_first_name_replaced"):
        rows["first_name"][i] = _other_first_name(rng, rows["first_name"][i])
    rows["birth_date"][kind == "crm_no_birth_date"] = None
    for i in np.flatnonzero(kind == "crm_address_abbreviated"):
        rows["street"][i] = _abbreviate(rng, rows["street"][i])
    for i in np.flatnonzero(kind == "crm_postcode_typo"):
        rows["postcode"][i] = _postcode_typo(rng, rows["postcode"][i])

    lead = np.flatnonzero(kind == "crm_lead_converted")
    rows["first_name"][lead] = mess.nicknames(rng, rows["first_name"][lead], 0.3)
    for column in ("phone", "street", "city", "postcode", "birth_date"):
        rows[column][lead] = None
    rows["email"][lead[rng.random(len(lead)) < 0.5]] = None
    rows["lifecycle_stage"][lead] = "lead"

    extra = pa.table({c: pa.array(list(v), table.schema.field(c).type) for c, v in rows.items()})
    kinds = np.concatenate([np.full(len(idx), None, dtype=object), kind])
    return (
        pa.concat_tables([table, extra]),
        np.concatenate([idx, person]),
        np.concatenate([dup, np.ones(k, bool)]),
        kinds,
    )
