"""The one-pass u estimation gives Splink's u values, level by level, to the bit.

Scoring replaced Splink's estimate_u_using_random_sampling (a cross join and a
query per comparison) by fewer scans of the same pairs, gated comparisons tested
only on the pairs that can reach a level other than their last
(identity/fuzzy/u_sampling.py, model_spec.U_SAMPLING_GATES), for time only: any
difference in u, however small, would move match weights and the quality figures
measured with Splink's estimate. A gate that lets through too few pairs shows
here as a level's count off.
"""

from __future__ import annotations

import copy

import duckdb
import pytest

from identity.fuzzy import load_model, read_nicknames
from identity.fuzzy.features import prepare_features
from identity.fuzzy.model_spec import U_SAMPLING_GATES
from identity.fuzzy.u_sampling import estimate_u_in_one_pass
from orchestration.paths import FUZZY_MODEL_PATH, FUZZY_NICKNAMES_PATH
from tests.fuzzy.people import population


def _linker(features, settings: dict):
    """A linker on its own DuckDB holding the feature table (an Arrow table)."""
    from splink import DuckDBAPI, Linker

    con = duckdb.connect()
    con.register("people_arrow", features)
    con.execute("create table people as select * from people_arrow")
    return Linker(DuckDBAPI(connection=con).register("people"), copy.deepcopy(settings))


@pytest.fixture(scope="module")
def features():
    """Feature rows of generated people (duplicates, typos, households)."""
    table, _ = population(1500, seed=5)
    con = duckdb.connect()
    name = prepare_features(con, table, read_nicknames(FUZZY_NICKNAMES_PATH))
    return con.sql(f"select * from {name}").to_arrow_table()


def _u(linker) -> dict[tuple[str, str], float | str]:
    return {
        (c.output_column_name, level.label_for_charts): level.u_probability
        for c in linker._settings_obj.comparisons
        for level in c.comparison_levels
        if not level.is_null_level
    }


@pytest.mark.parametrize("gates", [{}, U_SAMPLING_GATES], ids=["no gates", "model gates"])
@pytest.mark.parametrize(("records", "max_pairs"), [(None, 2e5), (800, 1e9)])
def test_one_pass_u_equals_splinks_estimate(
    features, records: int | None, max_pairs: float, gates: dict
) -> None:
    """A sample (2e5 pairs of ~3,000 records) and every pair (1e9 > 800 records' pairs)."""
    features = features.slice(0, records) if records else features
    settings = load_model(FUZZY_MODEL_PATH).settings

    splinks = _linker(features, settings)
    splinks.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=42, num_chunks=1)
    ours = _linker(features, settings)
    estimate_u_in_one_pass(ours, max_pairs, seed=42, gates=gates)

    expected, got = _u(splinks), _u(ours)
    assert got == expected
    # the sample saw most levels; a level it never saw keeps the model's u on both sides
    assert sum(isinstance(u, float) for u in got.values()) >= 20


def test_another_seed_samples_other_pairs(features) -> None:
    settings = load_model(FUZZY_MODEL_PATH).settings
    a, b = _linker(features, settings), _linker(features, settings)
    estimate_u_in_one_pass(a, 2e5, seed=1, gates=U_SAMPLING_GATES)
    estimate_u_in_one_pass(b, 2e5, seed=2, gates=U_SAMPLING_GATES)
    assert _u(a) != _u(b)


def test_a_gate_that_drops_pairs_of_a_level_changes_u(features) -> None:
    """The comparison above can see a wrong gate: one that keeps only equal last
    names sends the "first and last name similar" pairs to the last level."""
    settings = load_model(FUZZY_MODEL_PATH).settings
    right, wrong = _linker(features, settings), _linker(features, settings)
    estimate_u_in_one_pass(right, 2e5, seed=42, gates=U_SAMPLING_GATES)
    estimate_u_in_one_pass(wrong, 2e5, seed=42, gates={"name": ({}, "last_name_l = last_name_r")})
    differing = {k for k, u in _u(right).items() if _u(wrong)[k] != u}
    assert differing and all(name == "name" for name, _ in differing)


def test_a_gate_holds_only_for_the_levels_it_was_proven_for(features, caplog) -> None:
    """A model file whose name levels differ from model_spec's (an older file, or one
    edited by hand: `fuzzy_model_path` can name any) is counted without the name
    gate, and its u is still Splink's; the committed model keeps both gates."""
    from identity.fuzzy.model_spec import u_sampling_gates

    committed = load_model(FUZZY_MODEL_PATH).settings
    assert set(u_sampling_gates(_linker(features, committed)._settings_obj.comparisons)) == {
        "name",
        "birth_date",
    }

    edited = copy.deepcopy(committed)
    [name] = [c for c in edited["comparisons"] if c["output_column_name"] == "name"]
    loosened = [
        level
        for level in name["comparison_levels"]
        if "jaro_winkler_similarity(last_name_l, last_name_r) >= 0.8 " in level["sql_condition"]
    ]
    assert loosened  # the level a wider threshold takes beyond the gate's bound
    for level in loosened:
        level["sql_condition"] = level["sql_condition"].replace(
            "jaro_winkler_similarity(last_name_l, last_name_r) >= 0.8 ",
            "jaro_winkler_similarity(last_name_l, last_name_r) >= 0.6 ",
        )
    splinks, ours = _linker(features, edited), _linker(features, edited)
    with caplog.at_level("WARNING"):
        gates = u_sampling_gates(ours._settings_obj.comparisons)
    assert set(gates) == {"birth_date"} and "comparison name has other levels" in caplog.text
    splinks.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=42, num_chunks=1)
    estimate_u_in_one_pass(ours, 2e5, seed=42, gates=gates)
    assert _u(ours) == _u(splinks)
    # the same edited model through the name gate would have miscounted
    gated = _linker(features, edited)
    estimate_u_in_one_pass(gated, 2e5, seed=42, gates=U_SAMPLING_GATES)
    assert _u(gated) != _u(splinks)
