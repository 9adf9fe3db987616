"""Real-world damage applied to clean values, vectorised over arrays.

Each function takes an object array and returns a new one; the share of damaged
values is a parameter so the sources can differ (a CRM typed by salespeople is
messier than a shop checkout).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_data import vocab

JUNK_EMAILS = np.array(
    ["test@test.com", "noreply@example.com", "none@none.com", "a@a.com"], dtype=object
)
JUNK_PHONES = np.array(["0000000000", "0600000000", "+33000000000", "1234567890"], dtype=object)
INVALID_EMAIL_FORMS = ("{l}@{d}", "{l}@@{d}.com", "{l} @{d}.com", "{l}.{d}.com", "{l}@{d}")
INVALID_PHONES = np.array(
    ["12345", "06 12 34", "+33 6 12 34 56 78 99", "n/a", "0612-ABC"], dtype=object
)


def mask(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """Rows to damage. Small samples (>= 10 rows) always get at least one, so every
    kind of mess shows up even in a 300-person test dataset."""
    hit = rng.random(n) < share
    if share > 0 and n >= 10 and not hit.any():
        hit[rng.integers(0, n)] = True
    return hit


def email_variants(rng: np.random.Generator, emails: np.ndarray, share: float) -> np.ndarray:
    """Upper/title case and stray whitespace: the same address, typed differently."""
    out = emails.copy()
    hit = np.flatnonzero(mask(rng, len(out), share) & np.not_equal(out, None))
    kind = rng.integers(0, 4, len(hit))
    for i, k in zip(hit, kind, strict=True):
        v = out[i]
        out[i] = (v.upper(), v.title(), f"  {v} ", f"{v[0].upper()}{v[1:]}\t")[k]
    return out


def invalid_emails(rng: np.random.Generator, emails: np.ndarray, share: float) -> np.ndarray:
    """Broken syntax (missing dot, double @, spaces) that validation must flag."""
    out = emails.copy()
    hit = np.flatnonzero(mask(rng, len(out), share) & np.not_equal(out, None))
    for i, k in zip(hit, rng.integers(0, len(INVALID_EMAIL_FORMS), len(hit)), strict=True):
        local, _, domain = out[i].partition("@")
        out[i] = INVALID_EMAIL_FORMS[k].format(l=local, d=domain.split(".")[0])
    return out


def junk(
    rng: np.random.Generator, values: np.ndarray, share: float, pool: np.ndarray
) -> np.ndarray:
    out = values.copy()
    hit = mask(rng, len(out), share)
    out[hit] = pool[rng.integers(0, len(pool), hit.sum())]
    return out


def blank(
    rng: np.random.Generator, values: np.ndarray, share: float, empty: object = None
) -> np.ndarray:
    """Missing values: mostly NULL, sometimes an empty string, as form tools do."""
    out = values.copy()
    hit = mask(rng, len(out), share)
    out[hit] = empty
    return out


def _cut(values: pa.Array, start: int, stop: int | None = None) -> pa.Array:
    return pc.utf8_slice_codeunits(values, start, stop if stop is not None else 64)


def _join(*parts: pa.Array | str, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*parts, sep)


def _pick(style: np.ndarray, options: list[pa.Array]) -> np.ndarray:
    """Row i takes options[style[i]][i]."""
    out = np.empty(len(style), dtype=object)
    for k, option in enumerate(options):
        rows = np.flatnonzero(style == k)
        if len(rows):
            out[rows] = option.take(pa.array(rows)).to_numpy(zero_copy_only=False)
    return out


def format_phones(rng: np.random.Generator, e164: np.ndarray, national_share: float) -> np.ndarray:
    """Render E.164 numbers the way people type them: national for French numbers
    (06 12 34 56 78, 06.12.34.56.78, 0612345678) or international (+33 6..., 0033...).
    Vectorised with Arrow string kernels: a million numbers take well under a second."""
    out = e164.copy()
    present = np.flatnonzero(np.not_equal(out, None))
    if len(present) == 0:
        return out
    num = pa.array(out[present].astype(str))
    style = rng.integers(0, 6, len(present))
    french = pc.starts_with(num, "+33").to_numpy(zero_copy_only=False)
    national = french & (rng.random(len(present)) < national_share)

    nsn = _join("0", _cut(num, 3))
    pairs = [_cut(nsn, i, i + 2) for i in range(0, 10, 2)]
    national_forms = [
        _join(*pairs, sep=" "),
        nsn,
        _join(*pairs, sep="."),
        _join(*pairs, sep=" "),
        _join(*pairs, sep="-"),
        nsn,
    ]
    cc, rest = _cut(num, 1, 3), _cut(num, 3)
    grouped = _join(
        _cut(rest, 0, 1),
        _cut(rest, 1, 3),
        _cut(rest, 3, 5),
        _cut(rest, 5, 7),
        _cut(rest, 7),
        sep=" ",
    )
    intl_forms = [
        num,
        _join("+", cc, " ", grouped),
        _join("00", cc, rest),
        _join("+", cc, " (", _cut(rest, 0, 1), ") ", _cut(rest, 1)),
        num,
        num,
    ]
    out[present] = np.where(national, _pick(style, national_forms), _pick(style, intl_forms))
    return out


def typo(rng: np.random.Generator, names: np.ndarray, share: float) -> np.ndarray:
    """One keyboard slip: a swapped, dropped or doubled letter."""
    out = names.copy()
    hit = np.flatnonzero(mask(rng, len(out), share) & np.not_equal(out, None))
    kinds = rng.integers(0, 3, len(hit))
    for i, k in zip(hit, kinds, strict=True):
        v: str = out[i]
        if len(v) < 4:
            continue
        p = 1 + int(rng.integers(0, len(v) - 2))
        if k == 0:
            out[i] = v[:p] + v[p + 1] + v[p] + v[p + 2 :]
        elif k == 1:
            out[i] = v[:p] + v[p + 1 :]
        else:
            out[i] = v[:p] + v[p] + v[p:]
    return out


def nicknames(rng: np.random.Generator, first_names: np.ndarray, share: float) -> np.ndarray:
    out = first_names.copy()
    hit = np.flatnonzero(mask(rng, len(out), share))
    for i in hit:
        out[i] = vocab.NICKNAMES.get(out[i], out[i])
    return out


def case_noise(rng: np.random.Generator, names: np.ndarray, share: float) -> np.ndarray:
    """UPPERCASE or lowercase names, as typed in a hurry."""
    out = names.copy()
    hit = np.flatnonzero(mask(rng, len(out), share) & np.not_equal(out, None))
    for i, up in zip(hit, rng.random(len(hit)) < 0.5, strict=True):
        out[i] = out[i].upper() if up else out[i].lower()
    return out
