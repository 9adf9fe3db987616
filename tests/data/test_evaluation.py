"""Pairwise evaluation on hand-made tables whose answer is worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from identity.evaluation import connected_components, evaluate_file, pair_counts


def _tiny_warehouse(path: Path) -> None:
    """Persons A = {r1, r2, r3}, B = {r4, r5}, C = {r6}.
    Profiles X = {r1, r2}, Y = {r3, r4}, Z = {r5}; r6 was never resolved.

    True pairs: A 3 + B 1 = 4. Predicted pairs: X 1 + Y 1 = 2. Correct: (r1, r2) = 1.
    Clean identifiers: email a@x (r1, r2) and phone p1 (r1, r3) -> component {r1, r2, r3},
    3 clean pairs of which 1 is predicted. Phone p9 is held by B and C (not clean) and
    'bad' is invalid, so B's pair is not a clean pair.
    """
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw; create schema marts; create schema intermediate")
        con.execute(
            """
            create table raw.ground_truth as select * from (values
                ('crm', 'r1', 'A', 'l1'), ('crm', 'r2', 'A', 'l2'), ('shop', 'r3', 'A', 'l3'),
                ('shop', 'r4', 'B', 'l4'), ('shop', 'r5', 'B', 'l5'), ('web', 'r6', 'C', 'l6'),
                ('web', null, 'C', 'l7')
            ) as t(source, source_record_id, person_id, loader_id)
            """
        )
        con.execute(
            """
            create table marts.customer_identifiers as select * from (values
                ('crm', 'r1', 'email', 'a@x', 'X'), ('crm', 'r1', 'phone', 'p1', 'X'),
                ('crm', 'r2', 'email', 'a@x', 'X'), ('shop', 'r3', 'phone', 'p1', 'Y'),
                ('shop', 'r4', 'phone', 'p9', 'Y'), ('shop', 'r5', 'email', 'bad', 'Z')
            ) as t(source, source_record_id, identifier_type, identifier_value, profile_id)
            """
        )
        con.execute(
            """
            create table intermediate.int_identifiers as select * from (values
                ('crm', 'r1', 'email', 'a@x', true), ('crm', 'r1', 'phone', 'p1', true),
                ('crm', 'r2', 'email', 'a@x', true), ('shop', 'r3', 'phone', 'p1', true),
                ('shop', 'r4', 'phone', 'p9', true), ('web', 'r6', 'phone', 'p9', true),
                ('shop', 'r4', 'email', 'bad', false), ('shop', 'r5', 'email', 'bad', false),
                ('shop', 'r4', 'customer_id', 'shop:4', true), ('shop', 'r5', 'customer_id', 'shop:5', true)
            ) as t(source, source_record_id, identifier_type, identifier_value, is_valid)
            """
        )
        # r1 and r3 are person records (names, addresses): fuzzy matching could join them
        con.execute(
            "create table intermediate.int_person_records as select * from (values "
            "('crm', 'r1', 'Ann'), ('shop', 'r3', 'Anne')) as t(source, source_record_id, first_name)"
        )


def test_pairwise_metrics_match_hand_computed_answer(tmp_path: Path) -> None:
    db = tmp_path / "tiny.duckdb"
    _tiny_warehouse(db)
    out = tmp_path / "eval" / "evaluation.json"
    r = evaluate_file(db, out)
    assert (r.true_pairs, r.predicted_pairs, r.correct_pairs) == (4, 2, 1)
    assert r.precision == pytest.approx(0.5)
    assert r.recall == pytest.approx(0.25)
    assert r.f1 == pytest.approx(2 * 0.5 * 0.25 / 0.75, abs=1e-6)
    assert (r.clean_pairs, r.clean_correct_pairs) == (3, 1)
    assert r.clean_recall == pytest.approx(1 / 3, abs=1e-6)
    assert r.records == 6 and r.records_unresolved == 1
    assert r.true_persons == 3 and r.predicted_profiles == 4
    assert json.loads(out.read_text())["precision"] == pytest.approx(0.5)
    # missed pairs by cause: A's {r1, r2} x {r3} hold person records on both sides;
    # B's r4 and r5 are two customer ids of one system (a second account)
    assert r.missed_pairs == {
        "same_system_customer_ids": 1,
        "no_shared_identifier": 2,
        "anonymous_device": 0,
        "no_person_record": 0,
    }
    assert sum(r.missed_pairs.values()) == r.true_pairs - r.correct_pairs
    assert r.without_fuzzy is None  # no identity graph in this warehouse


def test_perfect_resolution_scores_one() -> None:
    truth = np.array([0, 0, 1, 1, 1, 2])
    counts = pair_counts(truth, truth + 10)
    assert (counts.precision, counts.recall, counts.f1) == (1.0, 1.0, 1.0)
    merged = pair_counts(truth, np.zeros(6, dtype=int))
    assert merged.recall == 1.0 and merged.precision == pytest.approx(4 / 15)


@pytest.mark.parametrize(
    ("n", "edges"),
    [
        (2000, [(i, i + 1) for i in range(1999)][::-1]),  # long chain, worst order
        (500, [(0, i) for i in range(1, 500)]),  # star
        (
            9,
            [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3), (6, 7)],
        ),  # two cycles + a pair + a singleton
    ],
)
def test_connected_components_chain_star_cycles(n: int, edges: list[tuple[int, int]]) -> None:
    left = np.array([a for a, _ in edges])
    right = np.array([b for _, b in edges])
    labels = connected_components(n, left, right)
    # reference: plain BFS
    adj: dict[int, list[int]] = {i: [] for i in range(n)}
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    expected = np.full(n, -1)
    for start in range(n):
        if expected[start] >= 0:
            continue
        stack, seen = [start], {start}
        while stack:
            node = stack.pop()
            for nxt in adj[node]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        expected[list(seen)] = min(seen)
    assert np.array_equal(labels, expected)


def test_evaluate_command_prints_and_writes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from orchestration.commands import evaluate as command

    db = tmp_path / "tiny.duckdb"
    _tiny_warehouse(db)
    out = tmp_path / "result.json"
    assert command.run(argparse.Namespace(duckdb=db, output=out)) == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "0.5000" in printed and "clean-pair recall" in printed
    assert "same_system_customer_ids" in printed and "missed pairs by cause (3)" in printed
    assert json.loads(out.read_text())["recall"] == pytest.approx(0.25)
    missing = tmp_path / "missing.duckdb"
    assert command.run(argparse.Namespace(duckdb=missing, output=out)) == 1
