"""Probabilistic record matching (Splink, Fellegi-Sunter) for Ferry's identity graph.

Public entry points:
- :func:`score_pairs`: scored, explained pairs of person records (used by the
  dbt Python model ``int_fuzzy_links``).
- :func:`train_model`: estimate the model from data and save it as JSON (used by
  ``ferry fuzzy train``).
- :func:`load_model`, :func:`resolve_model_path`, :func:`read_nicknames`.

Every path (model JSON, nickname seed) is passed in by the caller.
"""

from identity.fuzzy.model_store import (
    FuzzyModel,
    ModelFileError,
    load_model,
    resolve_model_path,
)
from identity.fuzzy.nicknames import read_nicknames
from identity.fuzzy.scoring import ScoringOptions, score_pairs
from identity.fuzzy.training import TrainingOptions, TrainingResult, train_model

__all__ = [
    "FuzzyModel",
    "ModelFileError",
    "ScoringOptions",
    "TrainingOptions",
    "TrainingResult",
    "load_model",
    "read_nicknames",
    "resolve_model_path",
    "score_pairs",
    "train_model",
]
