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

``raw.ground_truth.duplicate_kind`` says which kind each record is (see
writer.py); ``is_fuzzy_duplicate`` is true for both.
"""

from __future__ import annotations

import numpy as np

from sample_data import mess, vocab

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
