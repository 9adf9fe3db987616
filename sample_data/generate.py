"""Entry point of the generator: build every source, then write them in bulk."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_data.context import Context, RawTable
from sample_data.people import build_population
from sample_data.sources import consent, crm, forms, product, shop, support, web
from sample_data.writer import write_tables


@dataclass
class GenerationSummary:
    people: int
    seed: int
    as_of: dt.date
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def raw_records(self) -> int:
        return sum(v for k, v in self.row_counts.items() if k != "ground_truth")


def _reference_instant(as_of: dt.date) -> np.datetime64:
    """Activity is generated up to the start of the reference day (00:00 UTC)."""
    return np.datetime64(as_of.isoformat(), "s")


def build_tables(
    people: int,
    seed: int,
    as_of: dt.date,
    duplicate_share: float = 0.07,
    crm_duplicate_share: float = 0.0,
) -> list[RawTable]:
    """All raw tables for one seed, in memory (Arrow). Same arguments, same bytes."""
    if people < 1:
        raise ValueError("people must be >= 1")
    rng = np.random.default_rng(seed)
    instant = _reference_instant(as_of)
    ctx = Context(
        rng=rng,
        pop=build_population(rng, people, instant),
        as_of=instant,
        duplicate_share=duplicate_share,
        crm_duplicate_share=crm_duplicate_share,
    )
    # the systems that hold addresses take new-contact duplicates from each other
    ctx.bases = {"crm": crm.plan(ctx), "shop": shop.plan(ctx)}
    crm.build(ctx)
    shop_key = shop.build(ctx)
    support.build(ctx)
    forms.build(ctx)
    product.build(ctx)
    web.build(ctx, shop_key)  # after the others: devices get identified with what people gave them
    consent.build(ctx)
    ctx.tables = [_with_loader_columns(t, instant) for t in ctx.tables]
    return ctx.tables


def _with_loader_columns(raw: RawTable, instant: np.datetime64) -> RawTable:
    """Add the columns an ELT loader adds: a row id (present even when the
    source key is missing) and the load time (drives source freshness)."""
    n = raw.table.num_rows
    loader_id = pc.binary_join_element_wise(
        f"{raw.name}:", pa.array(np.arange(n)).cast(pa.string()), ""
    )
    loaded = pa.array(np.full(n, instant), pa.timestamp("s"))
    table = raw.table.append_column("_loader_id", loader_id).append_column("_loaded_at", loaded)
    return RawTable(raw.name, raw.key, table, raw.person_idx, raw.fuzzy, raw.kinds)


def generate(
    people: int,
    seed: int,
    duckdb_path: Path,
    as_of: dt.date | None = None,
    duplicate_share: float = 0.07,
    crm_duplicate_share: float = 0.0,
) -> GenerationSummary:
    """Generate and write the raw schema (replacing the generator's tables)."""
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    tables = build_tables(people, seed, as_of, duplicate_share, crm_duplicate_share)
    counts = write_tables(duckdb_path, tables, people=people, seed=seed, as_of=as_of)
    return GenerationSummary(people=people, seed=seed, as_of=as_of, row_counts=counts)
