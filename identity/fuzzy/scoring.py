"""Score candidate pairs of person records with the saved Splink model.

Splink runs on its own in-memory DuckDB connection: its scratch tables
(``__splink__*``) never land in the warehouse, and the caller (the dbt Python
model ``int_fuzzy_links``) only receives the final pairs as an Arrow table.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from identity.fuzzy.features import (
    DEFAULT_MAX_RECORDS_PER_VALUE,
    prepare_features,
)
from identity.fuzzy.model_spec import CONTRADICTION_UNLESS, CONTRADICTIONS
from identity.fuzzy.model_store import FuzzyModel, load_model
from identity.fuzzy.u_sampling import estimate_u_in_one_pass

logger = logging.getLogger(__name__)

# Pairs below this probability are not worth keeping: they can neither become
# edges nor enter the review queue.
DEFAULT_MIN_PROBABILITY = 0.5


@dataclass(frozen=True)
class ScoringOptions:
    """How pairs are scored; validated at construction.

    ``model_path``: the trained model JSON (the caller says where it is).
    """

    model_path: str
    min_probability: float = DEFAULT_MIN_PROBABILITY
    max_records_per_value: int = DEFAULT_MAX_RECORDS_PER_VALUE
    memory_limit: str | None = None
    temp_directory: str | None = None
    # The prior (probability that two random records match) and the u
    # probabilities of rare values (two strangers sharing a full name) both fall
    # as records grow, so the saved model's fit its training data only. By
    # default both are estimated again on the records being scored, as training
    # does (deterministic rules, random pairs: no labels, seconds); the m
    # probabilities, which EM needs the most data for, come from the model.
    # Below min_records_to_reestimate records the model's values are kept: a
    # handful of records says nothing reliable about either.
    reestimate_on_data: bool = True
    min_records_to_reestimate: int = 2_000
    # Random pairs sampled for u: u_pairs_per_record per record scored, within
    # [u_min_pairs, u_max_pairs] (u_pairs()). Sampling is most of a small build's time.
    u_pairs_per_record: float = 100.0
    u_min_pairs: float = 1e6
    u_max_pairs: float = 5e6
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_probability < 1.0:
            raise ValueError(
                f"fuzzy_min_probability must be in [0, 1), got {self.min_probability!r}"
            )
        if self.max_records_per_value < 2:
            raise ValueError(
                f"fuzzy_max_records_per_value must be >= 2, got {self.max_records_per_value!r}"
            )
        if not 0 < self.u_min_pairs <= self.u_max_pairs or self.u_pairs_per_record <= 0:
            raise ValueError(
                "u sampling needs 0 < u_min_pairs <= u_max_pairs and u_pairs_per_record > 0, "
                f"got {self.u_min_pairs!r}, {self.u_max_pairs!r}, {self.u_pairs_per_record!r}"
            )

    def u_pairs(self, records: int) -> float:
        """Random pairs to sample for u on ``records`` records.

        What u must resolve shrinks as records grow: among n records a level
        matters once about one stranger in n shares it (u ~ 1/n), since each
        record then meets one such stranger. ``u_pairs_per_record`` * n random
        pairs see such a level that many times, the precision the 5M-pair sample
        gives at 100k records, at a fifth of the cost for 20k. Never fewer than
        ``u_min_pairs`` (Splink's own default) nor more than ``u_max_pairs``
        (the 1M-record build keeps its sample).
        """
        return min(self.u_max_pairs, max(self.u_min_pairs, self.u_pairs_per_record * records))


def scratch_connection(
    memory_limit: str | None = None, temp_directory: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for Splink, allowed to spill to disk on big inputs."""
    con = duckdb.connect(":memory:")
    if memory_limit:
        con.execute(f"set memory_limit = '{memory_limit}'")
    temp_dir = temp_directory or os.environ.get("FERRY_FUZZY_TEMP_DIR")
    if temp_dir:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"set temp_directory = '{temp_dir}'")
    return con


def _levels_table(model: FuzzyModel) -> pa.Table:
    levels = model.levels()
    return pa.table(
        {
            "comparison": [lvl.comparison for lvl in levels],
            "gamma": pa.array([lvl.gamma for lvl in levels], pa.int32()),
            "label": [lvl.label for lvl in levels],
        }
    )


def _explain_sql(predictions: str, model: FuzzyModel, prior: float) -> str:
    """SQL turning Splink's output (a table name or a parenthesised query) into
    the int_fuzzy_links columns.

    For each comparison: its gamma (level number), the level's label and its
    match weight (log2 Bayes factor); with the prior's weight (log2 of its odds),
    in explanation_json, the terms that add up to match_weight.
    """
    names = model.comparison_names()
    with_tf = set(model.comparisons_with_term_frequencies())
    select_levels = []
    joins = []
    json_parts = []
    for i, name in enumerate(names):
        alias = f"lvl_{i}"
        joins.append(
            f"left join __fuzzy_levels as {alias} "
            f"on {alias}.comparison = '{name}' and {alias}.gamma = p.gamma_{name}"
        )
        # a level's weight with its term-frequency adjustment (how rare the
        # agreeing name is), so the weights still add up to match_weight
        tf_adj = f"coalesce(p.mw_tf_adj_{name}, 0)" if name in with_tf else "0"
        weight = f"round(p.mw_{name} + {tf_adj}, 4)"
        select_levels += [
            f"cast(p.gamma_{name} as integer) as gamma_{name}",
            f"{alias}.label as {name}_level",
            f"{weight} as {name}_weight",
        ]
        tf_part = f", 'term_frequency_weight', round({tf_adj}, 4)" if name in with_tf else ""
        json_parts.append(
            f"'{name}', json_object('level', {alias}.label, 'weight', {weight}{tf_part})"
        )
    contradiction_cases = []
    for i, name in enumerate(names):
        for label, reason in CONTRADICTIONS.get(name, {}).items():
            quoted = label.replace("'", "''")
            unless = CONTRADICTION_UNLESS.get(name, {}).get(label)
            guard = f" and not coalesce({unless}, false)" if unless else ""
            contradiction_cases.append(f"when lvl_{i}.label = '{quoted}'{guard} then '{reason}'")
    contradiction = f"case {' '.join(contradiction_cases)} end" if contradiction_cases else "null"
    prior_weight = round(math.log2(prior / (1.0 - prior)), 4)
    # Splink puts the lower unique_id on the left; the unique_id is
    # source|source_record_id, so side a is also the lower (source, id) pair
    # unless a source name contains '|', which the order below fixes anyway.
    swap = "(p.source_l, p.source_record_id_l) > (p.source_r, p.source_record_id_r)"
    return f"""
        select
            case when {swap} then p.source_r else p.source_l end as source_a,
            case when {swap} then p.source_record_id_r else p.source_record_id_l end
                as source_record_id_a,
            case when {swap} then p.source_l else p.source_r end as source_b,
            case when {swap} then p.source_record_id_l else p.source_record_id_r end
                as source_record_id_b,
            cast(p.match_probability as double) as match_probability,
            cast(p.match_weight as double) as match_weight,
            {", ".join(select_levels)},
            cast({contradiction} as varchar) as contradiction,
            cast(json_object(
                'prior', json_object('probability', {prior!r}, 'weight', {prior_weight!r}),
                {", ".join(json_parts)}
            ) as varchar) as explanation_json,
            '{model.version}' as model_version,
        from {predictions} as p
        {" ".join(joins)}
        order by source_a, source_record_id_a, source_b, source_record_id_b
    """


def score_pairs(
    records: pa.Table,
    nicknames: pa.Table,
    options: ScoringOptions,
    extra_ids: tuple[str, ...] = (),
) -> pa.Table:
    """Scored pairs of person records at or above ``options.min_probability``.

    ``records`` follows the int_person_records contract; ``nicknames`` is the
    fuzzy_nicknames seed. Returns one row per pair with side a the smaller
    (source, source_record_id), the match probability and weight, and for each
    comparison its level (gamma), the level label and its weight, plus the same
    as a JSON explanation. ``extra_ids``: the extra identifier columns the
    model was trained with (person files only).
    """
    from splink import DuckDBAPI, Linker

    model = load_model(options.model_path)
    con = scratch_connection(options.memory_limit, options.temp_directory)
    try:
        features = prepare_features(
            con,
            records,
            nicknames,
            max_records_per_value=options.max_records_per_value,
            extra_ids=extra_ids,
        )
        count = con.execute(f"select count(*) from {features}").fetchall()[0][0]
        con.register("__fuzzy_levels", _levels_table(model))
        prior = float(model.settings["probability_two_random_records_match"])
        if count < 2:
            empty = f"({_empty_predictions_sql(model, _column_types(con, features))})"
            return con.sql(_explain_sql(empty, model, prior)).to_arrow_table()
        db_api = DuckDBAPI(connection=con)
        linker = Linker(
            db_api.register(features, table_name="fuzzy_features_input"),
            model.settings,
            log_level=logging.WARNING,
        )
        _register_term_frequencies(
            con, db_api, linker, features, model, options.min_records_to_reestimate
        )
        if options.reestimate_on_data and count >= options.min_records_to_reestimate:
            prior = _estimate_u_and_prior(linker, extra_ids, options, count)
        predictions = linker.inference.predict(
            threshold_match_probability=options.min_probability, warning_mode="never"
        )
        return con.sql(_explain_sql(predictions.physical_name, model, prior)).to_arrow_table()
    finally:
        con.close()


def _register_term_frequencies(
    con: duckdb.DuckDBPyConnection,
    db_api: Any,
    linker: Any,
    features: str,
    model: FuzzyModel,
    min_people: int,
) -> None:
    """Each term-frequency column's lookup, counted in people rather than records.

    A level with a term-frequency adjustment weighs by how likely a stranger is
    to carry the value: the share of *people* with that name. Splink's own table
    counts records, so a rare name whose owner was entered three times looks three
    times as common, and the duplicates the adjustment should help find weigh
    less. Records of one value with one birth date are counted once (a person's
    duplicates mostly repeat it; namesakes mostly do not); a record without a
    birth date counts on its own.

    Shares are taken of at least `min_people` people: a file of forty records
    cannot show that a name is common (two Roux in forty people is 5%, which would
    outweigh the name agreeing at all), as it cannot re-estimate u.
    """
    for column in model.term_frequency_columns():
        table = f"__fuzzy_tf_{column}"
        con.execute(
            f"""
            create or replace table {table} as
            with people as (
                select {column}, count(distinct coalesce(birth_date, unique_id)) as people,
                from {features}
                where {column} is not null
                group by {column}
            )
            select {column}, people / greatest(sum(people) over (), {int(min_people)}) as tf_{column},
            from people
            """
        )
        linker.table_management.register_term_frequency_lookup(
            db_api.register(table, table_name=f"{table}_lookup"), column
        )


def _estimate_u_and_prior(
    linker: Any, extra_ids: tuple[str, ...], options: ScoringOptions, records: int
) -> float:
    """Re-estimate u (random pairs, less the matches among them) and the prior
    (deterministic rules) on the ``records`` scored records; keep the model's
    prior when no near-certain pair exists. Returns the prior now in use."""
    from identity.fuzzy import model_spec

    settings = linker._settings_obj  # Splink has no public setter for the prior
    trained = settings._probability_two_random_records_match
    pairs = options.u_pairs(records)
    # Splink's estimate_u_using_random_sampling(num_chunks=1), to the bit, with
    # every comparison counted in one scan of the pairs (u_sampling.py); one chunk,
    # as Splink's chunks and probe (to stop early once every level is seen 100
    # times) never stop early here: the rare levels that matter are never seen
    # that often
    estimate_u_in_one_pass(
        linker, pairs, options.seed, model_spec.u_sampling_gates(settings.comparisons)
    )
    linker.training.estimate_probability_two_random_records_match(
        model_spec.deterministic_rules_for_prior(extra_ids), recall=model_spec.PRIOR_RECALL
    )
    estimated = settings._probability_two_random_records_match
    if not 0.0 < estimated < 1.0:
        settings._probability_two_random_records_match = trained
        estimated = trained
    sampled = min(pairs, records * (records - 1) / 2)
    corrected = remove_matches_from_u(settings.comparisons, estimated, sampled)
    logger.info("u corrected for the matches among random pairs on %d levels", corrected)
    logger.info("prior %.3g on these records (model: %.3g)", estimated, trained)
    return float(estimated)


def remove_matches_from_u(comparisons: Any, prior: float, sampled_pairs: float) -> int:
    """u of each level without the true matches that random sampling counted.

    Splink takes u (how often two *different* people land on a level) as the
    share of random pairs on it, assuming nearly all random pairs are different
    people. Where duplicates are many and strangers rarely agree (an exact full
    name, a birth date, a street in a small file), the pairs on the level are
    mostly the duplicates themselves: on the independent person files, 3.3e-5 of
    random pairs share a full name while 5e-7 are strangers who do, so the name
    weighed 6 bits less than the evidence it is. A random pair is a match with
    probability ``prior`` and then lands on the level with probability m, so the
    share observed is prior * m + (1 - prior) * u, which gives u. The prior from
    the deterministic rules (their recall assumed) tends to be low, so the
    correction is, if anything, too small; u never falls below one pair in the
    sample (what the sample cannot tell from none). Returns how many levels
    changed.
    """
    floor = 1.0 / max(sampled_pairs, 1.0)
    changed = 0
    for comparison in comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level or level.m_probability is None or level.u_probability is None:
                continue
            observed = float(level.u_probability)
            u = max((observed - prior * float(level.m_probability)) / (1.0 - prior), floor)
            if u < observed:
                level.u_probability = u
                changed += 1
    return changed


def _column_types(con: Any, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of a table in the scratch connection."""
    return {name: kind for name, kind, *_ in con.execute(f"describe {table}").fetchall()}


def _empty_predictions_sql(model: FuzzyModel, features: dict[str, str]) -> str:
    """A zero-row stand-in for Splink's output, so tiny inputs keep the schema.

    Every feature column comes as `<column>_l` / `<column>_r`, as Splink retains them:
    the contradiction guards read them (a warehouse with one person record still builds).
    """
    cols = [
        "cast(null as double) as match_probability",
        "cast(null as double) as match_weight",
    ]
    for name, kind in {"source": "varchar", "source_record_id": "varchar", **features}.items():
        cols += [f'cast(null as {kind}) as "{name}_l"', f'cast(null as {kind}) as "{name}_r"']
    for name in model.comparison_names():
        cols += [f"cast(null as integer) as gamma_{name}", f"cast(null as double) as mw_{name}"]
    for name in model.comparisons_with_term_frequencies():
        cols.append(f"cast(null as double) as mw_tf_adj_{name}")
    return f"select {', '.join(cols)} where false"
