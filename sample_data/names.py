"""First and last names drawn with a realistic share of homonyms.

With a few dozen names of each kind, drawn uniformly, more than half of a
population of 5,000 shared a full name with a stranger (one in 4,500 pairs of
people, about 30 times what a French population shows). Name evidence was then
near worthless, which no real customer base looks like, and twins or a father
and son were drowned among random homonyms. So names come from two pools:

- a head of common names (``vocab``), the ones with nicknames, accents and
  particles that exercise normalisation; drawn often;
- a long tail from Faker's per-locale name lists (French and Belgian first, then
  the neighbours a French shop sells to), drawn uniformly.

Faker only supplies the lists; every draw uses the caller's seeded generator,
so a seed still gives the same people (Faker is pinned in constraints.txt).
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np

from sample_data import vocab

# Share of people whose first / last name comes from the common head.
FIRST_NAME_HEAD_SHARE = 0.5
LAST_NAME_HEAD_SHARE = 0.35

FIRST_NAME_LOCALES = ("fr_FR", "fr_BE", "en_GB")
LAST_NAME_LOCALES = ("fr_FR", "fr_BE", "de_DE", "en_GB", "es_ES", "it_IT", "nl_BE")

# Letters (any script Faker's western locales use), spaces, hyphens, apostrophes.
_PLAIN_NAME = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")


def _person_provider(locale: str) -> type:
    module = __import__(f"faker.providers.person.{locale}", fromlist=["Provider"])
    return module.Provider


def _tail(names: list[str], head: list[str]) -> tuple[str, ...]:
    seen = set(head)
    out: list[str] = []
    for name in names:
        if name not in seen and _PLAIN_NAME.match(name) and 2 <= len(name) <= 20:
            seen.add(name)
            out.append(name)
    return tuple(sorted(out))


@cache
def first_name_tail(female: bool) -> tuple[str, ...]:
    attr = "first_names_female" if female else "first_names_male"
    names: list[str] = []
    for locale in FIRST_NAME_LOCALES:
        names.extend(getattr(_person_provider(locale), attr))
    head = vocab.FIRST_NAMES_F if female else vocab.FIRST_NAMES_M
    return _tail(names, head)


@cache
def last_name_tail() -> tuple[str, ...]:
    names: list[str] = []
    for locale in LAST_NAME_LOCALES:
        names.extend(_person_provider(locale).last_names)
    return _tail(names, vocab.LAST_NAMES)


def _draw(
    rng: np.random.Generator, n: int, head: list[str], tail: tuple[str, ...], head_share: float
) -> np.ndarray:
    from_head = rng.random(n) < head_share
    head_pick = np.array(head, dtype=object)[rng.integers(0, len(head), n)]
    tail_pick = np.array(tail, dtype=object)[rng.integers(0, len(tail), n)]
    return np.where(from_head, head_pick, tail_pick)


def draw_first_names(rng: np.random.Generator, female: np.ndarray) -> np.ndarray:
    n = len(female)
    women = _draw(rng, n, vocab.FIRST_NAMES_F, first_name_tail(True), FIRST_NAME_HEAD_SHARE)
    men = _draw(rng, n, vocab.FIRST_NAMES_M, first_name_tail(False), FIRST_NAME_HEAD_SHARE)
    return np.where(female, women, men)


def draw_last_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return _draw(rng, n, vocab.LAST_NAMES, last_name_tail(), LAST_NAME_HEAD_SHARE)
