"""Estimate the model's parameters from data and save them as reviewable JSON.

Unsupervised, as Splink intends: the prior from near-certain deterministic
matches, u probabilities from random pairs (almost all non-matches), m
probabilities by expectation-maximisation over blocked pairs. No labels and no
hand-set weights; the ground truth of generated data is used only to evaluate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from identity.fuzzy import model_spec
from identity.fuzzy.features import (
    DEFAULT_MAX_RECORDS_PER_VALUE,
    prepare_features,
)
from identity.fuzzy.model_store import (
    TRAINING_REPORT_NAME,
    load_model,
    resolve_model_path,
    save_model,
)
from identity.fuzzy.scoring import scratch_connection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingOptions:
    """Training knobs; the defaults suit 10k-1M records on a laptop."""

    seed: int = 42
    # Random pairs sampled to estimate u (non-match frequencies of each level).
    u_max_pairs: float = 5e6
    # Cap on blocked pairs per EM session (None: all of them).
    em_max_pairs: float | None = 2e6
    # Assumed share of true matches that the deterministic rules in
    # model_spec.deterministic_rules_for_prior find; sets the prior only.
    prior_recall: float = model_spec.PRIOR_RECALL
    max_records_per_value: int = DEFAULT_MAX_RECORDS_PER_VALUE
    # Floor for m and u of levels the data cannot estimate (never seen among
    # the training pairs, or driven to ~0 by EM).
    probability_floor: float = 1e-5
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 < self.prior_recall <= 1.0:
            raise ValueError(f"prior_recall must be in (0, 1], got {self.prior_recall!r}")
        if self.u_max_pairs < 1e3:
            raise ValueError(f"u_max_pairs must be >= 1000, got {self.u_max_pairs!r}")


@dataclass(frozen=True)
class TrainingResult:
    model_path: Path
    report_path: Path
    version: str
    report: dict[str, Any]


def _apply_floor(settings: dict[str, Any], floor: float) -> list[str]:
    """Give levels the data could not estimate an explicit floor, and say which.

    Splink leaves m (or u) unset for a level no training pair fell into, and EM
    can drive m of a level matches never showed to ~1e-17 (a weight of -50,
    a veto no data justified). Such values are raised to ``floor`` and listed
    in the training report so a reviewer sees them.
    """
    floored: list[str] = []
    for comparison in settings["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            for key in ("m_probability", "u_probability"):
                value = level.get(key)
                if value is None or value < floor:
                    level[key] = floor
                    floored.append(
                        f"{comparison['output_column_name']}: "
                        f"{level.get('label_for_charts', level['sql_condition'])} ({key})"
                    )
    return floored


def train_model(
    records: pa.Table,
    nicknames: pa.Table,
    *,
    output_path: str | Path,
    options: TrainingOptions | None = None,
    extra_ids: tuple[str, ...] = (),
    broad_blocking: bool = False,
) -> TrainingResult:
    """Train on ``records`` (int_person_records contract), save model and report.

    The model goes to ``output_path`` (``ferry fuzzy train`` passes the committed
    dbt_project/fuzzy/splink_model.json), the report beside it. ``extra_ids``:
    extra identifier columns of a person file, each its own comparison;
    ``broad_blocking``: a person file's extra blocking rules
    (model_spec.broad_blocking_rules).
    """
    import splink
    from splink import DuckDBAPI, Linker
    from splink.internals.exceptions import EMTrainingException

    options = options or TrainingOptions()
    con = scratch_connection()
    try:
        features = prepare_features(
            con,
            records,
            nicknames,
            max_records_per_value=options.max_records_per_value,
            extra_ids=extra_ids,
        )
        n_records = con.execute(f"select count(*) from {features}").fetchall()[0][0]
        if n_records < 100:
            raise ValueError(f"only {n_records} usable person records: too few to estimate a model")
        settings = model_spec.settings(extra_ids, broad_blocking)
        settings.linker_uid = "ferry_fuzzy"
        db_api = DuckDBAPI(connection=con)
        linker = Linker(
            db_api.register(features, table_name="fuzzy_features_input"),
            settings,
            log_level=logging.WARNING,
        )
        linker.training.estimate_probability_two_random_records_match(
            model_spec.deterministic_rules_for_prior(extra_ids), recall=options.prior_recall
        )
        linker.training.estimate_u_using_random_sampling(
            max_pairs=options.u_max_pairs, seed=options.seed
        )
        sessions = []
        skipped: list[str] = []
        for rule in model_spec.training_blocking_rules(extra_ids):
            try:
                session = linker.training.estimate_parameters_using_expectation_maximisation(
                    rule, max_pairs=options.em_max_pairs
                )
            except EMTrainingException:
                # no pair agrees on this rule's columns (a file without e-mails):
                # the other sessions estimate what it would have
                skipped.append(str(rule.create_blocking_rule_dict("duckdb")["blocking_rule"]))
                continue
            sessions.append(session)
        if not sessions:
            raise ValueError("no EM session found pairs to learn from: too few similar records")
        # An EM session may leave its own block's match rate as the prior (in a
        # block on a shared identifier most pairs match); the prior is the rate
        # over all pairs, so it is estimated again, last.
        linker.training.estimate_probability_two_random_records_match(
            model_spec.deterministic_rules_for_prior(extra_ids), recall=options.prior_recall
        )
        trained = linker.misc.save_model_to_json()
    finally:
        con.close()

    trained["linker_uid"] = "ferry_fuzzy"
    floored = _apply_floor(trained, options.probability_floor)
    model_path = save_model(trained, output_path)
    model = load_model(model_path)
    report = {
        "model_version": model.version,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "splink_version": splink.__version__,
        "records": n_records,
        "probability_two_random_records_match": trained["probability_two_random_records_match"],
        "options": {
            "seed": options.seed,
            "u_max_pairs": options.u_max_pairs,
            "em_max_pairs": options.em_max_pairs,
            "prior_recall": options.prior_recall,
            "max_records_per_value": options.max_records_per_value,
        },
        "em_sessions": len(sessions),
        "em_sessions_skipped": skipped,
        "levels_at_floor": floored,
        "levels": [
            {
                "comparison": lvl.comparison,
                "gamma": lvl.gamma,
                "label": lvl.label,
                "m_probability": lvl.m_probability,
                "u_probability": lvl.u_probability,
            }
            for lvl in model.levels()
            if lvl.gamma >= 0
        ],
        **({"notes": options.notes} if options.notes else {}),
    }
    report_path = resolve_model_path(output_path).parent / TRAINING_REPORT_NAME
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return TrainingResult(
        model_path=model_path, report_path=report_path, version=model.version, report=report
    )
