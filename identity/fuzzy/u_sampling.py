"""u probabilities from random pairs, every comparison in one pass over the pairs.

Splink's ``estimate_u_using_random_sampling`` samples records, then for each
comparison in turn builds every pair of the sample again and counts its levels:
six comparisons, six cross joins of the same ~2M pairs, each query carrying
Splink's parameter bookkeeping. On a 20,000-record person file that was 3.3 s of
a 4.3 s scoring. Here the same sample (Splink's own deterministic, seeded
selection of records) is paired once and every comparison's level (Splink's own
CASE expressions) is counted in the same scan, then written back through
Splink's own functions: the u values are the ones Splink computes, to the last
bit (tests/fuzzy/test_u_sampling.py holds that), for less of the time.

Splink's internals used here are pinned by constraints.txt; the test above fails
if a Splink upgrade changes what they return.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

logger = logging.getLogger(__name__)

TRAINING_DESCRIPTION = "estimate u by random sampling"


def estimate_u_in_one_pass(linker: Any, max_pairs: float, seed: int) -> None:
    """Set the u probabilities of ``linker``'s comparisons from about ``max_pairs``
    random pairs, as ``estimate_u_using_random_sampling(max_pairs, seed,
    num_chunks=1)`` would (dedupe_only linkers on DuckDB)."""
    from splink.internals.constants import LEVEL_NOT_OBSERVED_TEXT
    from splink.internals.estimate_u import _MUCountsAccumulator, _rows_needed_for_n_pairs
    from splink.internals.m_u_records_to_parameters import (
        append_u_probability_to_comparison_level_trained_probabilities,
        m_u_records_to_lookup_dict,
    )
    from splink.internals.pipeline import CTEPipeline
    from splink.internals.vertically_concatenate import enqueue_df_concat

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
        counts = _level_counts(con, sample.physical_name, settings, uid_cols, db_api.sql_dialect)
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
    con: Any, sample: str, settings: Any, uid_cols: list, dialect: Any
) -> dict[str, dict[int, float]]:
    """Pairs of the sample at each level of each comparison: one cross join, one scan.

    The pairs are Splink's (``l.uid < r.uid``, its where clause for one chunk); the
    levels are each comparison's own CASE expression.
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
    columns: list[str] = []
    for comparison in comparisons:
        for col in comparison._columns_to_select_for_blocking():
            if col not in columns:
                columns.append(col)
    cases = [c._case_statement for c in comparisons]
    gammas = [f"gamma_{c.output_column_name}" for c in comparisons]
    sets = ", ".join(f"({g})" for g in gammas)
    rows = con.execute(
        f"""
        with pairs as (
            select {", ".join(columns)}
            from {sample} as l
            inner join {sample} as r
            on (1=1)
            {where}
        ),
        levels as (
            select {", ".join(cases)}
            from pairs
        )
        select {", ".join(gammas)}, count(*) as pairs
        from levels
        group by grouping sets ({sets})
        """
    ).fetchall()
    counts: dict[str, dict[int, float]] = {}
    for row in rows:
        *levels, pairs = row
        for comparison, gamma in zip(settings.comparisons, levels, strict=True):
            if gamma is not None:
                counts.setdefault(comparison.output_column_name, {})[int(gamma)] = float(pairs)
    return counts
