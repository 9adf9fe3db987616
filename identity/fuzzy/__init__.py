"""Probabilistic record matching (Splink, Fellegi-Sunter) for Ferry's identity graph.

Public entry points:
- :func:`score_pairs`: scored, explained pairs of person records (used by the
  dbt Python model ``int_fuzzy_links``).
- :func:`train_model`: estimate the model from data and save it as JSON (used by
  ``ferry fuzzy train``).
- :func:`load_model`, :func:`resolve_model_path`, :func:`read_nicknames`.

Every path (model JSON, nickname seed) is passed in by the caller.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each name's module, imported on first use: scoring and training import Splink
# (and sqlglot), a few hundred milliseconds that the `ferry` process of a
# warehouse-path evaluate-file, which only reads and loads the file, never needs.
_MODULES = {
    "FuzzyModel": "model_store",
    "ModelFileError": "model_store",
    "load_model": "model_store",
    "resolve_model_path": "model_store",
    "read_nicknames": "nicknames",
    "ScoringOptions": "scoring",
    "score_pairs": "scoring",
    "TrainingOptions": "training",
    "TrainingResult": "training",
    "train_model": "training",
}

if TYPE_CHECKING:
    from identity.fuzzy.model_store import (
        FuzzyModel,
        ModelFileError,
        load_model,
        resolve_model_path,
    )
    from identity.fuzzy.nicknames import read_nicknames
    from identity.fuzzy.scoring import ScoringOptions, score_pairs
    from identity.fuzzy.training import TrainingOptions, TrainingResult, train_model


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


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
