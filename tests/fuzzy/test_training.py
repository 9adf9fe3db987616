"""Training: parameters come from the data (EM), land in reviewable JSON, and the
saved model scores pairs the way the data says."""

from __future__ import annotations

import json

import duckdb
import pytest

from identity.fuzzy import (
    ModelFileError,
    ScoringOptions,
    TrainingOptions,
    load_model,
    read_nicknames,
    score_pairs,
    train_model,
)
from identity.fuzzy.model_spec import settings as untrained_settings
from orchestration.paths import FUZZY_NICKNAMES_PATH
from tests.fuzzy.people import population


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    records, truth = population(1500, seed=3)
    out = tmp_path_factory.mktemp("model") / "model.json"
    options = TrainingOptions(seed=1, u_max_pairs=3e5, em_max_pairs=3e5)
    result = train_model(records, read_nicknames(FUZZY_NICKNAMES_PATH), output_path=out, options=options)
    return result, records, truth


def test_model_json_is_complete_and_reviewable(trained) -> None:
    result, _, _ = trained
    saved = json.loads(result.model_path.read_text())
    model = load_model(result.model_path)
    assert model.version == result.version
    assert [c["output_column_name"] for c in saved["comparisons"]] == [
        "name", "birth_date", "address", "email", "phone", "employer",
    ]
    levels = [lvl for lvl in model.levels() if lvl.gamma >= 0]
    assert all(0 < lvl.m_probability <= 1 and 0 < lvl.u_probability <= 1 for lvl in levels)
    report = json.loads(result.report_path.read_text())
    assert report["em_sessions"] == 3 and report["records"] == result.report["records"]


def test_parameters_are_estimated_from_the_data(trained) -> None:
    result, _, truth = trained
    model = load_model(result.model_path)
    exact = {lvl.comparison: lvl for lvl in model.levels() if lvl.gamma >= 0}
    # EM moved every comparison's top level away from Splink's starting values
    defaults = {
        c.output_column_name: c.comparison_levels[1].m_probability
        for c in untrained_settings().get_settings("duckdb").comparisons
    }
    for name, level in exact.items():
        assert level.m_probability != pytest.approx(defaults[name], rel=1e-3), name
    # exact agreement is evidence for a match on every comparison
    top = [lvl for lvl in model.levels() if lvl.gamma >= 0]
    for comparison in {lvl.comparison for lvl in top}:
        best = max((lvl for lvl in top if lvl.comparison == comparison), key=lambda lvl: lvl.gamma)
        assert best.m_probability > best.u_probability, comparison
    # the prior is within a factor of 3 of the true share of matching pairs
    with duckdb.connect() as con:
        con.register("truth", truth)
        n, pairs = con.sql(
            "select (select count(*) from truth), "
            "(select sum(c * (c - 1) / 2) from (select count(*) c from truth group by person_id))"
        ).fetchall()[0]
    true_prior = pairs / (n * (n - 1) / 2)
    prior = model.settings["probability_two_random_records_match"]
    assert true_prior / 3 < prior < true_prior * 3


def test_saved_model_links_duplicates_precisely(trained) -> None:
    result, records, truth = trained
    links = score_pairs(records, read_nicknames(FUZZY_NICKNAMES_PATH), ScoringOptions(model_path=str(result.model_path)))
    with duckdb.connect() as con:
        con.register("links", links)
        con.register("truth", truth)
        tp, fp = con.sql(
            """
            select count(*) filter (where ta.person_id = tb.person_id),
                   count(*) filter (where ta.person_id <> tb.person_id)
            from links l
            join truth ta on ta.source = l.source_a and ta.source_record_id = l.source_record_id_a
            join truth tb on tb.source = l.source_b and tb.source_record_id = l.source_record_id_b
            where l.match_probability >= 0.99 and l.contradiction is null
            """
        ).fetchall()[0]
        true_pairs = con.sql(
            "select sum(c * (c - 1) / 2) from (select count(*) c from truth group by person_id)"
        ).fetchall()[0][0]
    assert tp / (tp + fp) >= 0.98
    assert tp / true_pairs >= 0.6


def test_missing_model_file_says_how_to_make_one(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="ferry fuzzy train"):
        load_model(tmp_path / "nope.json")


def test_untrained_level_is_named(tmp_path, trained) -> None:
    result, _, _ = trained
    saved = json.loads(result.model_path.read_text())
    del saved["comparisons"][2]["comparison_levels"][1]["m_probability"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(saved))
    with pytest.raises(ModelFileError, match=r"comparisons\[2\]\.comparison_levels\[1\]\.m_probability"):
        load_model(broken)
