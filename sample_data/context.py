"""Shared state for one generation run: the seeded RNG, the population, the
reference date, and the table type every source returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_data import duplicates, mess
from sample_data.people import Population

DAY_S = 86_400


@dataclass
class RawTable:
    """One raw table plus, per row, the index of the true person behind it."""

    name: str  # table name in schema raw, also the `source` in ground truth
    key: str  # natural key column (may be NULL on a few damaged rows)
    table: pa.Table
    person_idx: np.ndarray
    # rows that belong to a fuzzy duplicate (a second account/contact sharing no clean
    # identifier with the person's other records), including such a record's children
    fuzzy: np.ndarray | None = None
    # per row, a duplicate kind set by the source itself (None: derived in writer.py)
    kinds: np.ndarray | None = None


# Person-level tables and their e-mail / phone columns (see Context.given).
PERSON_TABLES: dict[str, dict[str, str]] = {
    "crm_contacts": {"email": "email", "phone": "phone"},
    "shop_customers": {"email": "email", "phone": "phone"},
    "support_tickets": {"email": "requester_email", "phone": "requester_phone"},
    "forms_submissions": {"email": "email", "phone": "phone"},
    "product_users": {"email": "email"},
}


@dataclass
class Context:
    rng: np.random.Generator
    pop: Population
    as_of: np.datetime64  # reference instant (UTC, seconds); all activity is at or before it
    duplicate_share: float = 0.07
    # share of CRM rows that duplicate another CRM row (duplicates.crm_internal); 0: none
    crm_duplicate_share: float = 0.0
    tables: list[RawTable] = field(default_factory=list)
    # person indices seen by each source system (later sources draw on earlier ones)
    members: dict[str, np.ndarray] = field(default_factory=dict)
    # planned members of the systems that hold addresses (crm, shop), drawn before
    # any source is built so each can take new-contact duplicates from the other
    bases: dict[str, np.ndarray] = field(default_factory=dict)
    # e-mails and phones people gave the systems, as typed, per person (not from
    # duplicates): consent changes reuse them, as a preference centre or an SMS
    # keyword reply can only concern an address or number the company holds
    given: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=lambda: {"email": [], "phone": []}
    )

    def sample(self, share: float, weights: np.ndarray | None = None) -> np.ndarray:
        """Indices of people who use a source (optionally weighted by activity)."""
        p = (
            np.full(self.pop.n, share)
            if weights is None
            else np.clip(share * weights / weights.mean(), 0, 1)
        )
        return np.flatnonzero(self.rng.random(self.pop.n) < p)

    def _is_own(self, kind: str, person: int, value: str) -> bool:
        """A value that is the person's own and valid: their e-mail (any case or
        spacing) or their mobile (any format); not a junk, role, invalid or
        household value."""
        if kind == "email":
            v = value.strip().lower()
            return v in (self.pop.email[person], self.pop.work_email[person])
        digits = "".join(ch for ch in value if ch.isdigit())
        return len(digits) >= 9 and self.pop.mobile[person].endswith(digits[-9:])

    def given_value(
        self, kind: str, person_idx: np.ndarray, fallback: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each person, one of the values of ``kind`` they gave (at random),
        else ``fallback``; and whether they gave one."""
        parts = self.given[kind]
        out = fallback.copy()
        if not parts:
            return out, np.zeros(len(out), bool)
        owner = np.concatenate([p for p, _ in parts])
        values = np.concatenate([v for _, v in parts])
        order = np.lexsort((self.rng.random(len(owner)), owner))
        owner, values = owner[order], values[order]
        # a random given value per person: the first after the random shuffle
        first = np.r_[True, owner[1:] != owner[:-1]]
        pos = np.searchsorted(owner[first], person_idx)
        found = (pos < first.sum()) & (owner[first][np.minimum(pos, first.sum() - 1)] == person_idx)
        out[found] = values[first][pos[found]]
        return out, found

    def ago(self, n: int, max_days: float, min_days: float = 0.0) -> np.ndarray:
        """Instants uniformly between max_days and min_days before the reference date."""
        secs = self.rng.uniform(min_days * DAY_S, max_days * DAY_S, n).astype(np.int64)
        return self.as_of - secs.astype("timedelta64[s]")

    def dup_email(self, person_idx: np.ndarray, source_no: int) -> np.ndarray:
        """A private address used only by one fuzzy duplicate (shares nothing clean)."""
        alt = self.pop.alt_email[person_idx]
        return np.array([a.replace("@", f"{source_no}@", 1) for a in alt], dtype=object)

    def with_duplicates(
        self, base: np.ndarray, eligible: np.ndarray | None = None, rows_per_member: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Append fuzzy duplicates: (person index per row, is_duplicate flag).

        Second accounts: a few of ``base`` appear twice. New contacts: people of
        ``eligible`` (members of other systems) outside ``base`` appear here once,
        about ``duplicate_share`` of the source's rows (``rows_per_member`` rows
        per member of base), and can be joined by a fuzzy link (duplicates.py).
        """
        second = base[self.rng.random(len(base)) < duplicates.SECOND_ACCOUNT_SHARE]
        new = (
            duplicates.new_contacts(
                self.rng, base, eligible, self.duplicate_share * rows_per_member
            )
            if eligible is not None
            else np.zeros(0, np.int64)
        )
        rows = np.concatenate([base, second, new])
        flag = np.concatenate([np.zeros(len(base), bool), np.ones(len(second) + len(new), bool)])
        return rows, flag

    def fuzzy_names(
        self, idx: np.ndarray, dup: np.ndarray, typo_share: float, nick_share: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """First/last names with nicknames, case noise and typos; duplicates get
        the variations of duplicates.vary_names instead."""
        first = mess.nicknames(self.rng, self.pop.first_name[idx], nick_share)
        last = self.pop.last_name[idx].copy()
        first = mess.typo(self.rng, first, typo_share)
        last = mess.typo(self.rng, last, typo_share)
        first[dup], last[dup] = duplicates.vary_names(
            self.rng, self.pop.first_name[idx][dup], self.pop.last_name[idx][dup]
        )
        first = mess.case_noise(self.rng, first, 0.03)
        last = mess.case_noise(self.rng, last, 0.05)
        return first, last

    def dup_address(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Street, city, postcode as a duplicate gives them (duplicates.addresses)."""
        p = self.pop
        return duplicates.addresses(
            self.rng,
            p.street[idx],
            p.city[idx],
            p.postcode[idx],
            p.old_street[idx],
            p.old_city[idx],
            p.old_postcode[idx],
        )

    def add(
        self,
        name: str,
        key: str,
        columns: dict[str, object],
        person_idx: np.ndarray,
        fuzzy: np.ndarray | None = None,
        kinds: np.ndarray | None = None,
    ) -> None:
        flags = np.zeros(len(person_idx), bool) if fuzzy is None else np.asarray(fuzzy, bool)
        self.tables.append(RawTable(name, key, pa.table(columns), person_idx, flags, kinds))
        if name in PERSON_TABLES:
            for kind, column in PERSON_TABLES[name].items():
                values = columns[column]
                values = (
                    values.to_numpy(zero_copy_only=False)
                    if isinstance(values, pa.Array)
                    else values
                )
                keep = np.flatnonzero(~flags & np.not_equal(values, None) & (values != ""))
                own = np.array(
                    [
                        self._is_own(kind, int(p), v)
                        for p, v in zip(person_idx[keep], values[keep], strict=True)
                    ],
                    dtype=bool,
                )
                keep = keep[own] if len(keep) else keep
                self.given[kind].append((person_idx[keep], values[keep]))
        system = name.split("_", 1)[0]
        self.members[system] = np.union1d(
            self.members.get(system, np.zeros(0, np.int64)), person_idx
        )


def ids(prefix: str, n: int, start: int = 1, width: int = 7) -> np.ndarray:
    """Zero-padded string ids: ids('CRM-', 2) -> ['CRM-0000001', 'CRM-0000002']."""
    numbers = pa.array(np.arange(start, start + n)).cast(pa.string())
    padded = pc.binary_join_element_wise(prefix, pc.utf8_lpad(numbers, width, "0"), "")
    return padded.to_numpy(zero_copy_only=False).astype(object)


def iso_with_offset(ts: np.ndarray, offset_hours: np.ndarray) -> np.ndarray:
    """ISO-8601 strings in a local time zone (as SaaS exports give them): '2026-03-01T10:00:00+01:00'."""
    local = ts + (offset_hours * 3600).astype("timedelta64[s]")
    suffix = (
        np.where(offset_hours >= 0, "+", "-").astype(object)
        + np.char.zfill(np.abs(offset_hours).astype(str), 2).astype(object)
        + ":00"
    )
    return np.datetime_as_string(local, unit="s").astype(object) + suffix


def with_missing_keys(
    rng: np.random.Generator, keys: np.ndarray, share: float = 0.004
) -> np.ndarray:
    """A few rows lose their primary key (a broken export): they must be quarantined."""
    return mess.blank(rng, keys, share)


def arr(values: np.ndarray, type_: pa.DataType | None = None) -> pa.Array:
    """Object arrays with None -> Arrow (None stays NULL)."""
    return pa.array(values, type=type_, from_pandas=True)
