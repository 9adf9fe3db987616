"""Probabilistic record matching (Splink, Fellegi-Sunter) for Ferry's identity graph.

Public entry points:
- :func:`score_pairs`: scored, explained pairs of person records (used by the
  dbt Python model ``int_fuzzy_links``).
- :func:`train_model`: estimate the model from data and save it as JSON (used by
  ``ferry fuzzy train``).
- :func:`load_model`, :func:`read_nicknames`.
"""

from orchestration.fuzzy_matching.model_store import (
    DEFAULT_MODEL_PATH,
    FuzzyModel,
    ModelFileError,
    load_model,
)
from orchestration.fuzzy_matching.nicknames import read_nicknames
from orchestration.fuzzy_matching.scoring import ScoringOptions, score_pairs
from orchestration.fuzzy_matching.training import TrainingOptions, TrainingResult, train_model

__all__ = [
    "DEFAULT_MODEL_PATH",
    "FuzzyModel",
    "ModelFileError",
    "ScoringOptions",
    "TrainingOptions",
    "TrainingResult",
    "load_model",
    "read_nicknames",
    "score_pairs",
    "train_model",
]
