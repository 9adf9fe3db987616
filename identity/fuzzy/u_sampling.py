"""u probabilities from random pairs: Splink's values, fewer scans and level tests.

Splink's ``estimate_u_using_random_sampling`` samples records, then for each
comparison in turn builds every pair of the sample again and counts its levels:
six comparisons, six cross joins of the same ~2M pairs, each query carrying
Splink's parameter bookkeeping. On a 20,000-record person file that was 3.3 s of
a 4.3 s scoring. Here the same sample (Splink's own deterministic, seeded
selection of records) is paired, the levels of the comparisons without a gate
(Splink's own CASE expressions) counted in one scan, and those with a gate
(model_spec.U_SAMPLING_GATES: the name and the birth date, whose Jaro-Winkler and
edit distances cost the most) only on the few pairs that can reach a level other
than their last; the counts are written back through Splink's own functions.
The u values are the ones Splink computes, to the last bit
(tests/fuzzy/test_u_sampling.py holds that), in less than half the time.

Splink's internals used here are pinned by constraints.txt; the test above fails
if a Splink upgrade changes what they return.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

TRAINING_DESCRIPTION = "estimate u by random sampling"


# comparison name -> (per-record columns: name -> SQL, a test on <name>_l / <name>_r
# and the comparison's columns that every pair on a level other than the last passes)
Gates = Mapping[str, tuple[Mapping[str, str], str]]


def estimate_u_in_one_pass(
    linker: Any, max_pairs: float, seed: int, gates: Gates | None = None
) -> None:
    """Set the u probabilities of ``linker``'s comparisons from about ``max_pairs``
    random pairs, as ``estimate_u_using_random_sampling(max_pairs, seed,
    num_chunks=1)`` would (dedupe_only linkers on DuckDB).

    ``gates`` (model_spec.U_SAMPLING_GATES) spare the level tests of the pairs
    that can only be on a comparison's last level (its "else"): most random pairs.
    """
    from splink.internals.constants import LEVEL_NOT_OBSERVED_TEXT
    from splink.internals.estimate_u import _MUCountsAccumulator, _rows_needed_for_n_pairs
    from splink.internals.m_u_records_to_parameters import (
        append_u_probability_to_comparison_level_trained_probabilities,
        m_u_records_to_lookup_dict,
    )
    from splink.internals.pipeline import CTEPipeline
    from splink.internals.vertically_concatenate import enqueue_df_concat

    gates = gates or {}
    settings = linker._settings_obj
    if settings._link_type != "dedupe_only":
        raise ValueError(
            f"one-pass u estimation is for dedupe_only models, not {settings._link_type}"
        )
    db_api = linker._db_api
    con = db_api.duckdb_con
    uid_cols = settings.column_info_settings.unique_id_input_columns

    # the sample: Splink's count, proportion and hashed, seeded selection of records
    pipeline = enqueue_df_concat(linker, CTEPipeline())
    pipeline.enqueue_sql(
        "select count(*) as count from __splink__df_concat", "__splink__df_concat_count"
    )
    count_df = db_api.sql_pipeline_to_splink_dataframe(pipeline)
    total = count_df.as_record_list()[0]["count"]
    count_df.drop_table_from_database_and_remove_from_cache()
    proportion = min(_rows_needed_for_n_pairs(max_pairs) / total, 1.0)
    pipeline = enqueue_df_concat(linker, CTEPipeline())
    sample_filter = linker._proportion_sample_sql(proportion, uid_cols, seed=seed)
    pipeline.enqueue_sql(
        f"select * from __splink__df_concat where 1=1 {sample_filter}", "__splink__df_concat_sample"
    )
    sample = db_api.sql_pipeline_to_splink_dataframe(pipeline)
    try:
        counts = _level_counts(
            con, sample.physical_name, settings, uid_cols, db_api.sql_dialect, gates
        )
    finally:
        sample.drop_table_from_database_and_remove_from_cache()

    for comparison in settings.comparisons:
        name = comparison.output_column_name
        accumulator = _MUCountsAccumulator(comparison)
        accumulator.update_from_chunk_counts(
            [{"comparison_vector_value": g, "u_count": n} for g, n in counts.get(name, {}).items()]
        )
        records = accumulator.to_record_list()
        # Splink's proportions: each level's count over the comparison's non-null pairs;
        # a level no pair reached is "not observed", not u = 0
        observed = sum(r["u_count"] for r in records if r["comparison_vector_value"] != -1)
        params = [
            {
                "output_column_name": name,
                "comparison_vector_value": r["comparison_vector_value"],
                "m_probability": None,
                "u_probability": (r["u_count"] / observed)
                if r["u_count"] and observed
                else LEVEL_NOT_OBSERVED_TEXT,
            }
            for r in records
            if r["comparison_vector_value"] != -1
        ]
        lookup = m_u_records_to_lookup_dict(params)
        for level in comparison._comparison_levels_excluding_null:
            append_u_probability_to_comparison_level_trained_probabilities(
                level, lookup, name, TRAINING_DESCRIPTION
            )
    linker._populate_m_u_from_trained_values()


def _level_counts(
    con: Any, sample: str, settings: Any, uid_cols: list, dialect: Any, gates: Gates
) -> dict[str, dict[int, float]]:
    """Pairs of the sample at each level of each comparison.

    The pairs are Splink's (``l.uid < r.uid``, its where clause for one chunk); the
    levels are each comparison's own CASE expression. The comparisons without a
    gate are counted in one scan of the pairs, which also counts them all; each
    gated one in a scan of the pairs passing its gate (a filter on per-record
    numbers and equalities, before any text of the pair is copied), the others
    being on its last level.
    """
    from splink.internals.blocking import _sql_gen_where_condition

    where = _sql_gen_where_condition(
        settings._link_type,
        uid_cols,
        right_chunk=(1, 1),
        sql_dialect=dialect,
    )
    # as Splink does: without term-frequency columns, which u never reads
    comparisons = copy.deepcopy(settings.comparisons)
    for comparison in comparisons:
        for level in comparison.comparison_levels:
            level._tf_adjustment_column = None
    gated = [
        c
        for c in comparisons
        if c.output_column_name in gates and c.comparison_levels[-1]._is_else_level
    ]
    plain = [c for c in comparisons if c not in gated]
    record_columns: dict[str, str] = {}
    for comparison in gated:
        record_columns.update(gates[comparison.output_column_name][0])
    extra = "".join(f", {sql} as {name}" for name, sql in record_columns.items())
    records = "__fuzzy_u_records"
    con.execute(f"create or replace temp table {records} as select *{extra} from {sample}")
    try:
        counts: dict[str, dict[int, float]] = {}
        # the comparisons without a gate, and every pair (the empty grouping set)
        gammas = [_gamma(c) for c in plain]
        sets = ", ".join([*(f"({g})" for g in gammas), "()"])
        rows = con.execute(
            f"""
            select {"".join(f"{_case(c)} as {_gamma(c)}, " for c in plain)}
                count(*) as pairs
            from {records} as l
            inner join {records} as r
            on (1=1)
            {where}
            group by grouping sets ({sets})
            """
        ).fetchall()
        total = 0.0
        for row in rows:
            *levels, pairs = row
            if all(level is None for level in levels):
                total = float(pairs)
            for comparison, gamma in zip(plain, levels, strict=True):
                if gamma is not None:
                    counts.setdefault(comparison.output_column_name, {})[int(gamma)] = float(pairs)
        for comparison in gated:
            own_columns, test = gates[comparison.output_column_name]
            level_counts = dict(
                con.execute(
                    f"""
                    select {_case(comparison)} as gamma, count(*) as pairs
                    from {records} as l
                    inner join {records} as r
                    on (1=1)
                    {where}
                    -- a test on a NULL value takes the pair through the levels
                    and coalesce({_pair_columns(test, [*own_columns, *_input_columns(comparison)])}, true)
                    group by gamma
                    """
                ).fetchall()
            )
            seen = float(sum(level_counts.values()))
            last = int(comparison.comparison_levels[-1].comparison_vector_value)
            level_counts[last] = level_counts.get(last, 0) + total - seen
            counts[comparison.output_column_name] = {
                int(g): float(n) for g, n in level_counts.items()
            }
        return counts
    finally:
        con.execute(f"drop table if exists {records}")


def _gamma(comparison: Any) -> str:
    return f"gamma_{comparison.output_column_name}"


def _case(comparison: Any) -> str:
    """The comparison's CASE expression on the pair's l. and r. columns."""
    case, alias = comparison._case_statement.rsplit(" as ", 1)
    if alias.strip() != _gamma(comparison):
        raise ValueError(f"unexpected level expression for {_gamma(comparison)}: {alias!r}")
    return _pair_columns(case, _input_columns(comparison))


def _input_columns(comparison: Any) -> list[str]:
    """The record columns a comparison's levels read (Splink's <column>_l / _r)."""
    names = []
    for col in comparison._columns_to_select_for_blocking():
        # '"l"."first_name" AS "first_name_l"'
        side, rest = col.split(".", 1)
        if side.strip('"') == "l":
            names.append(rest.split(" AS ", 1)[0].strip('"'))
    return names


def _pair_columns(sql: str, columns: Any) -> str:
    """``sql`` reading <column>_l / <column>_r, rewritten to l.<column> / r.<column>."""
    names = sorted(columns, key=len, reverse=True)
    pattern = re.compile(r'"?\b(' + "|".join(map(re.escape, names)) + r')_(l|r)\b"?')
    return pattern.sub(lambda m: f'{m.group(2)}."{m.group(1)}"', sql)
