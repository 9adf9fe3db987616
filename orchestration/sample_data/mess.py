"""Real-world damage applied to clean values, vectorised over arrays.

Each function takes an object array and returns a new one; the share of damaged
values is a parameter so the sources can differ (a CRM typed by salespeople is
messier than a shop checkout).
"""

from __future__ import annotations

import numpy as np

from orchestration.sample_data import vocab

JUNK_EMAILS = np.array(["test@test.com", "noreply@example.com", "none@none.com", "a@a.com"], dtype=object)
JUNK_PHONES = np.array(["0000000000", "0600000000", "+33000000000", "1234567890"], dtype=object)
INVALID_EMAIL_FORMS = ("{l}@{d}", "{l}@@{d}.com", "{l} @{d}.com", "{l}.{d}.com", "{l}@{d}")
INVALID_PHONES = np.array(["12345", "06 12 34", "+33 6 12 34 56 78 99", "n/a", "0612-ABC"], dtype=object)


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
    hit = np.flatnonzero(mask(rng, len(out), share) & (out != None))  # noqa: E711
    kind = rng.integers(0, 4, len(hit))
    for i, k in zip(hit, kind, strict=True):
        v = out[i]
        out[i] = (v.upper(), v.title(), f"  {v} ", f"{v[0].upper()}{v[1:]}\t")[k]
    return out


def invalid_emails(rng: np.random.Generator, emails: np.ndarray, share: float) -> np.ndarray:
    """Broken syntax (missing dot, double @, spaces) that validation must flag."""
    out = emails.copy()
    hit = np.flatnonzero(mask(rng, len(out), share) & (out != None))  # noqa: E711
    for i, k in zip(hit, rng.integers(0, len(INVALID_EMAIL_FORMS), len(hit)), strict=True):
        local, _, domain = out[i].partition("@")
        out[i] = INVALID_EMAIL_FORMS[k].format(l=local, d=domain.split(".")[0])
    return out


def junk(rng: np.random.Generator, values: np.ndarray, share: float, pool: np.ndarray) -> np.ndarray:
    out = values.copy()
    hit = mask(rng, len(out), share)
    out[hit] = pool[rng.integers(0, len(pool), hit.sum())]
    return out


def blank(rng: np.random.Generator, values: np.ndarray, share: float, empty: object = None) -> np.ndarray:
    """Missing values: mostly NULL, sometimes an empty string, as form tools do."""
    out = values.copy()
    hit = mask(rng, len(out), share)
    out[hit] = empty
    return out


def _group(digits: str, sizes: tuple[int, ...]) -> str:
    parts, pos = [], 0
    for size in sizes:
        parts.append(digits[pos : pos + size])
        pos += size
    if pos < len(digits):
        parts.append(digits[pos:])
    return " ".join(p for p in parts if p)


def format_phones(rng: np.random.Generator, e164: np.ndarray, national_share: float) -> np.ndarray:
    """Render E.164 numbers the way people type them: national for French numbers
    (06 12 34 56 78, 06.12.34.56.78, 0612345678) or international (+33 6..., 0033...)."""
    out = e164.copy()
    present = np.flatnonzero(out != None)  # noqa: E711
    style = rng.integers(0, 6, len(present))
    national = rng.random(len(present)) < national_share
    for i, s, nat in zip(present, style, national, strict=True):
        num: str = out[i]
        if num.startswith("+33") and nat:
            nsn = "0" + num[3:]
            out[i] = (
                _group(nsn, (2, 2, 2, 2, 2)),
                nsn,
                ".".join(nsn[j : j + 2] for j in range(0, 10, 2)),
                _group(nsn, (2, 2, 2, 2, 2)),
                "-".join(nsn[j : j + 2] for j in range(0, 10, 2)),
                nsn,
            )[s]
        else:
            cc = num[1:3]
            rest = num[1 + len(cc) :]
            out[i] = (
                num,
                f"+{cc} {_group(rest, (1, 2, 2, 2, 2))}",
                f"00{cc}{rest}",
                f"+{cc} ({rest[0]}) {rest[1:]}",
                num,
                f"+{cc}{rest}",
            )[s]
    return out


def typo(rng: np.random.Generator, names: np.ndarray, share: float) -> np.ndarray:
    """One keyboard slip: a swapped, dropped or doubled letter."""
    out = names.copy()
    hit = np.flatnonzero(mask(rng, len(out), share) & (out != None))  # noqa: E711
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
    hit = np.flatnonzero(mask(rng, len(out), share) & (out != None))  # noqa: E711
    for i, up in zip(hit, rng.random(len(hit)) < 0.5, strict=True):
        out[i] = out[i].upper() if up else out[i].lower()
    return out
