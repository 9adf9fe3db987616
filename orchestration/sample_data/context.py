"""Shared state for one generation run: the seeded RNG, the population, the
reference date, and the table type every source returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.sample_data import mess
from orchestration.sample_data.people import Population

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


@dataclass
class Context:
    rng: np.random.Generator
    pop: Population
    as_of: np.datetime64  # reference instant (UTC, seconds); all activity is at or before it
    duplicate_share: float = 0.07
    tables: list[RawTable] = field(default_factory=list)
    # person indices seen by each source system (later sources draw on earlier ones)
    members: dict[str, np.ndarray] = field(default_factory=dict)

    def sample(self, share: float, weights: np.ndarray | None = None) -> np.ndarray:
        """Indices of people who use a source (optionally weighted by activity)."""
        p = (
            np.full(self.pop.n, share)
            if weights is None
            else np.clip(share * weights / weights.mean(), 0, 1)
        )
        return np.flatnonzero(self.rng.random(self.pop.n) < p)

    def ago(self, n: int, max_days: float, min_days: float = 0.0) -> np.ndarray:
        """Instants uniformly between max_days and min_days before the reference date."""
        secs = self.rng.uniform(min_days * DAY_S, max_days * DAY_S, n).astype(np.int64)
        return self.as_of - secs.astype("timedelta64[s]")

    def dup_email(self, person_idx: np.ndarray, source_no: int) -> np.ndarray:
        """A private address used only by one fuzzy duplicate (shares nothing clean)."""
        alt = self.pop.alt_email[person_idx]
        return np.array([a.replace("@", f"{source_no}@", 1) for a in alt], dtype=object)

    def with_duplicates(self, person_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append fuzzy duplicates: (person index per row, is_duplicate flag)."""
        dups = person_idx[self.rng.random(len(person_idx)) < self.duplicate_share]
        rows = np.concatenate([person_idx, dups])
        flag = np.concatenate([np.zeros(len(person_idx), bool), np.ones(len(dups), bool)])
        return rows, flag

    def fuzzy_names(
        self, idx: np.ndarray, dup: np.ndarray, typo_share: float, nick_share: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """First/last names with nicknames, case noise and typos; duplicates always get a typo or nickname."""
        first = mess.nicknames(self.rng, self.pop.first_name[idx], nick_share)
        last = self.pop.last_name[idx].copy()
        first = mess.typo(self.rng, first, typo_share)
        last = mess.typo(self.rng, last, typo_share)
        # duplicates: make sure the name differs somehow (typo in the last name)
        last[dup] = mess.typo(self.rng, last[dup], 1.0)
        first = mess.case_noise(self.rng, first, 0.03)
        last = mess.case_noise(self.rng, last, 0.05)
        return first, last

    def add(
        self,
        name: str,
        key: str,
        columns: dict[str, object],
        person_idx: np.ndarray,
        fuzzy: np.ndarray | None = None,
    ) -> None:
        flags = np.zeros(len(person_idx), bool) if fuzzy is None else np.asarray(fuzzy, bool)
        self.tables.append(RawTable(name, key, pa.table(columns), person_idx, flags))
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
