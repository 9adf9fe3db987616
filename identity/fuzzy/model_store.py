"""Where the trained model lives and how it is read back.

The model is a Splink settings JSON committed to the repository (Ferry keeps
it at ``dbt_project/fuzzy/splink_model.json``), so a change of parameters is a
diff a reviewer can read. Its content hash is the model version stamped on
every link. Every function takes the path it reads or writes: this package
knows no project layout (the CLI, the dbt Python model and the benchmarks say
where the files are).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAINING_REPORT_NAME = "training_report.json"


class ModelFileError(ValueError):
    """The model file is missing or is not a trained Splink model."""


@dataclass(frozen=True)
class ComparisonLevelInfo:
    comparison: str
    gamma: int
    label: str
    m_probability: float | None
    u_probability: float | None


@dataclass(frozen=True)
class FuzzyModel:
    """A loaded model: its Splink settings, where it came from and its version."""

    path: Path
    settings: dict[str, Any]
    version: str

    def levels(self) -> list[ComparisonLevelInfo]:
        """Every comparison level with the gamma value Splink gives it.

        Splink numbers the non-null levels of a comparison from n-1 (first, most
        similar) down to 0 (the else level) and the null level -1.
        """
        out: list[ComparisonLevelInfo] = []
        for comparison in self.settings["comparisons"]:
            name = comparison["output_column_name"]
            levels = comparison["comparison_levels"]
            counter = sum(1 for lvl in levels if not lvl.get("is_null_level")) - 1
            for level in levels:
                if level.get("is_null_level"):
                    gamma = -1
                else:
                    gamma = counter
                    counter -= 1
                out.append(
                    ComparisonLevelInfo(
                        comparison=name,
                        gamma=gamma,
                        label=level.get("label_for_charts") or level["sql_condition"],
                        m_probability=level.get("m_probability"),
                        u_probability=level.get("u_probability"),
                    )
                )
        return out

    def comparisons_with_term_frequencies(self) -> list[str]:
        """Comparisons with a level adjusted by term frequency (Splink adds an
        ``mw_tf_adj_<name>`` column for each)."""
        return [
            comparison["output_column_name"]
            for comparison in self.settings["comparisons"]
            if any(level.get("tf_adjustment_column") for level in comparison["comparison_levels"])
        ]

    def term_frequency_columns(self) -> list[str]:
        """Columns some level adjusts by the frequency of their value, in order."""
        columns = [
            level["tf_adjustment_column"]
            for comparison in self.settings["comparisons"]
            for level in comparison["comparison_levels"]
            if level.get("tf_adjustment_column")
        ]
        return list(dict.fromkeys(columns))

    def comparison_names(self) -> list[str]:
        return [c["output_column_name"] for c in self.settings["comparisons"]]


def resolve_model_path(
    path: str | os.PathLike[str], base_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The model file as an absolute path; a relative one is read against ``base_dir``.

    The dbt Python model passes its project folder as ``base_dir``, so the dbt
    var ``fuzzy/splink_model.json`` names the committed model wherever dbt runs.
    """
    if not str(path):
        raise ModelFileError("no fuzzy matching model path given")
    candidate = Path(path)
    if not candidate.is_absolute() and base_dir is not None:
        candidate = Path(base_dir) / candidate
    return candidate.resolve()


def load_model(path: str | os.PathLike[str]) -> FuzzyModel:
    resolved = resolve_model_path(path)
    if not resolved.is_file():
        raise ModelFileError(
            f"{resolved}: no fuzzy matching model; run `ferry fuzzy train` to create one"
        )
    text = resolved.read_text(encoding="utf-8")
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{resolved}: not valid JSON ({err})") from err
    comparisons = settings.get("comparisons")
    if not isinstance(comparisons, list) or not comparisons:
        raise ModelFileError(f"{resolved}: key 'comparisons' is missing or empty")
    for i, comparison in enumerate(comparisons):
        if not comparison.get("output_column_name"):
            raise ModelFileError(f"{resolved}: comparisons[{i}].output_column_name is missing")
        for j, level in enumerate(comparison.get("comparison_levels", [])):
            if level.get("is_null_level"):
                continue
            for key in ("m_probability", "u_probability"):
                if level.get(key) is None:
                    raise ModelFileError(
                        f"{resolved}: comparisons[{i}].comparison_levels[{j}].{key} is not "
                        "trained; run `ferry fuzzy train`"
                    )
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return FuzzyModel(path=resolved, settings=settings, version=version)


def save_model(settings: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the settings JSON with stable formatting (sorted levels stay in order)."""
    resolved = resolve_model_path(path)
    resolved.parent.mkdir(parents=True, exist_ok=True)
    resolved.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return resolved
