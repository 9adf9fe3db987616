"""Scoring re-estimates u and the prior on the records it scores.

Both fall as records grow (one person's records are a smaller share of all
pairs; two strangers sharing a rare name are rarer), so a model trained on one
size of data is only calibrated for it; m comes from the model file.
"""

from __future__ import annotations

import json
import math

import pytest

from identity.fuzzy import ScoringOptions, load_model, read_nicknames, score_pairs
from orchestration.paths import FUZZY_MODEL_PATH, FUZZY_NICKNAMES_PATH
from tests.fuzzy.people import population

COMMITTED = ScoringOptions(str(FUZZY_MODEL_PATH))


@pytest.fixture(scope="module")
def records():
    table, _ = population(1500, seed=11)
    assert table.num_rows >= 2_000
    return table


def _priors(pairs) -> set[float]:
    return {json.loads(e)["prior"]["probability"] for e in pairs["explanation_json"].to_pylist()}


def test_the_prior_is_estimated_on_the_scored_records(records) -> None:
    committed = load_model(FUZZY_MODEL_PATH).settings["probability_two_random_records_match"]
    estimated = score_pairs(records, read_nicknames(FUZZY_NICKNAMES_PATH), COMMITTED)
    kept = score_pairs(records, read_nicknames(FUZZY_NICKNAMES_PATH), ScoringOptions(str(FUZZY_MODEL_PATH), reestimate_on_data=False))
    (prior,) = _priors(estimated)
    (kept_prior,) = _priors(kept)
    assert kept_prior == pytest.approx(committed)
    # a few thousand records: each person's records are a far larger share of
    # all pairs than in the 36k records the committed model was trained on
    assert prior > 2 * committed
    assert estimated.num_rows != kept.num_rows or (
        estimated["match_probability"].to_pylist() != kept["match_probability"].to_pylist()
    )


def test_a_handful_of_records_keeps_the_models_values(records) -> None:
    committed = load_model(FUZZY_MODEL_PATH).settings["probability_two_random_records_match"]
    few = score_pairs(records.slice(0, 300), read_nicknames(FUZZY_NICKNAMES_PATH), COMMITTED)
    assert few.num_rows > 0
    (few_prior,) = _priors(few)
    assert few_prior == pytest.approx(committed)


def test_the_explanation_adds_up_to_the_match_weight(records) -> None:
    pairs = score_pairs(records, read_nicknames(FUZZY_NICKNAMES_PATH), COMMITTED).to_pylist()
    assert pairs
    for pair in pairs[:200]:
        terms = json.loads(pair["explanation_json"])
        total = sum(t["weight"] for t in terms.values())
        assert total == pytest.approx(pair["match_weight"], abs=0.01)
        odds = 2 ** pair["match_weight"]
        assert pair["match_probability"] == pytest.approx(odds / (1 + odds), rel=1e-3)
        assert math.isfinite(terms["prior"]["weight"])
