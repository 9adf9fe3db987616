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
    kept = score_pairs(
        records,
        read_nicknames(FUZZY_NICKNAMES_PATH),
        ScoringOptions(str(FUZZY_MODEL_PATH), reestimate_on_data=False),
    )
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


def _with_rows(table, rows: list[dict]):
    import pyarrow as pa

    extra = pa.Table.from_pylist(
        [{c: row.get(c) for c in table.column_names} for row in rows], schema=table.schema
    )
    return pa.concat_tables([table, extra])


def test_a_rare_last_name_agreeing_weighs_more_than_a_common_one(records) -> None:
    """Term-frequency adjustment: same first-name typo, same birth date, another
    address; only how many people carry the last name differs. Forty people
    named Brennan make it common; Wroblewska is carried by one person."""
    base = {"source": "crm", "birth_date": "1980-04-02", "city": "Lyon", "postcode": "69003"}
    rows = [
        {**base, "source_record_id": f"common{i}", "first_name": f"Other{chr(97 + i % 26)}{i}",
         "last_name": "Brennan", "birth_date": f"19{50 + i}-01-0{1 + i % 9}", "street": f"{i} rue Neuve"}
        for i in range(40)
    ]  # fmt: skip
    rows += [
        {**base, "source_record_id": "rare_a", "first_name": "Katarzyna", "last_name": "Wroblewska", "street": "3 rue Vendome"},
        {**base, "source_record_id": "rare_b", "first_name": "Katarzina", "last_name": "Wroblewska", "street": "8 quai Perrache"},
        {**base, "source_record_id": "common_a", "first_name": "Katarzyna", "last_name": "Brennan", "street": "5 rue Paul Bert"},
        {**base, "source_record_id": "common_b", "first_name": "Katarzina", "last_name": "Brennan", "street": "9 cours Gambetta"},
    ]  # fmt: skip
    pairs = score_pairs(
        _with_rows(records, rows),
        read_nicknames(FUZZY_NICKNAMES_PATH),
        ScoringOptions(str(FUZZY_MODEL_PATH), min_probability=0.0),
    ).to_pylist()
    by_ids = {(p["source_record_id_a"], p["source_record_id_b"]): p for p in pairs}
    rare, common = by_ids[("rare_a", "rare_b")], by_ids[("common_a", "common_b")]
    assert rare["name_level"] == common["name_level"] == "last name exact, first name typo"
    assert rare["name_weight"] > common["name_weight"] + 3
    assert rare["match_probability"] > common["match_probability"]
    rare_terms = json.loads(rare["explanation_json"])["name"]
    assert rare_terms["term_frequency_weight"] > 0


@pytest.mark.parametrize("rows", [0, 1])
def test_one_record_or_none_scores_no_pair_with_the_full_schema(records, rows: int) -> None:
    """A warehouse with a single person record (or none) still builds int_fuzzy_links:
    no pairs, the same columns as a real scoring."""
    full = score_pairs(records.slice(0, 300), read_nicknames(FUZZY_NICKNAMES_PATH), COMMITTED)
    tiny = score_pairs(records.slice(0, rows), read_nicknames(FUZZY_NICKNAMES_PATH), COMMITTED)
    assert tiny.num_rows == 0
    assert tiny.schema.names == full.schema.names


class _Level:
    def __init__(self, m: float | None, u: float | None, null: bool = False) -> None:
        self.m_probability, self.u_probability, self.is_null_level = m, u, null


class _Comparison:
    def __init__(self, *levels: _Level) -> None:
        self.comparison_levels = list(levels)


def test_u_leaves_out_the_matches_among_random_pairs() -> None:
    """Random pairs on a level where strangers rarely agree are mostly duplicates:
    u is what remains once the matches the prior and m account for are removed,
    never below one pair of the sample; a level strangers often reach keeps its u."""
    from identity.fuzzy.scoring import remove_matches_from_u

    full_name = _Level(m=0.5, u=3.4e-5)  # 3.4e-5 observed, 3e-5 of it the matches
    surname = _Level(m=0.01, u=6e-4)  # namesakes dominate: nearly unchanged
    all_matches = _Level(m=0.9, u=1e-5)  # the sample holds no stranger at all
    null = _Level(m=None, u=None, null=True)
    changed = remove_matches_from_u(
        [_Comparison(null, full_name, surname), _Comparison(all_matches)], 6e-5, 5e6
    )
    assert changed == 3
    assert full_name.u_probability == pytest.approx(4e-6, rel=1e-3)
    assert surname.u_probability == pytest.approx(6e-4 - 6e-7, rel=1e-3)
    assert all_matches.u_probability == pytest.approx(1 / 5e6)
    assert null.u_probability is None


def test_u_sample_grows_with_the_records_within_its_bounds() -> None:
    options = ScoringOptions(str(FUZZY_MODEL_PATH))
    assert options.u_pairs(2_000) == options.u_min_pairs
    assert options.u_pairs(20_000) == 20_000 * options.u_pairs_per_record
    assert options.u_pairs(1_000_000) == options.u_max_pairs
    with pytest.raises(ValueError, match="u_min_pairs"):
        ScoringOptions(str(FUZZY_MODEL_PATH), u_min_pairs=6e6)


def test_the_gated_edit_distance_keeps_every_pair_within_one_edit() -> None:
    """The gate in front of Damerau-Levenshtein only spares the distance on pairs
    it would reject: every single edit at every position, on every length."""
    import duckdb

    from identity.fuzzy.model_spec import _dl, _dl1_gated

    words = ["19850716", "1985716", "198507161", "1234", "1", "", "abcdefghij"]
    edited = set(words)
    for w in words:
        for i in range(len(w) + 1):
            edited |= {w[:i] + "x" + w[i:], w[:i] + w[i + 1 :], w[:i] + "x" + w[i + 1 :]}
            if i + 1 < len(w):
                edited.add(w[:i] + w[i + 1] + w[i] + w[i + 2 :])
    values = sorted(edited)
    with duckdb.connect() as con:
        con.execute("create table v (d varchar)")
        con.executemany("insert into v values (?)", [(v,) for v in values])
        plain, gated = _dl("d", 1), _dl1_gated("d")
        differ = con.execute(
            f"""
            select count(*) filter (where ({plain}) is distinct from ({gated})),
                   count(*) filter (where {plain})
            from (select a.d as d_l, b.d as d_r from v as a, v as b)
            """
        ).fetchone()
    assert differ[1] > len(values)  # pairs one edit apart were compared, not only equal ones
    assert differ[0] == 0


def test_the_committed_model_compares_as_the_spec_says() -> None:
    """The saved model carries each level's SQL: a level rewritten in model_spec (a
    cheaper form of the same test) must be rewritten in the committed model too,
    or builds score with the old one."""
    from identity.fuzzy import model_spec

    def levels(settings: dict) -> list[tuple[str, str, str]]:
        return [
            (c["output_column_name"], lvl.get("label_for_charts"), lvl["sql_condition"])
            for c in settings["comparisons"]
            for lvl in c["comparison_levels"]
        ]

    spec = model_spec.settings().get_settings("duckdb").as_dict()
    assert levels(load_model(FUZZY_MODEL_PATH).settings) == levels(spec)
