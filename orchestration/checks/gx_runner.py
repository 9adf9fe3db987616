"""Run a Great Expectations (1.x) suite over a small pandas frame.

Why pandas frames and not a GE SQL datasource: the checks read only the few
columns they need (keys, a validity flag, a consent flag) with one SQL query
that works on any warehouse, and GE's SQL datasources would need a SQLAlchemy
dialect per warehouse. The suite itself is plain GE, so its results read like
any other GE validation.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# GE probes optional backends; an installed pyspark warns about pandas 3 on import.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark(\..*)?$")



@lru_cache(maxsize=1)
def _import_great_expectations():
    """Import GE without letting an installed pyspark end the process.

    GE probes optional backends and so imports pyspark when it is installed (the
    Spark target needs it). pyspark's ``sql.connect.utils`` then calls
    ``sys.exit(0)`` ("Skipping doctests") when ``__main__`` has neither a spec
    nor a file, which is the case in Dagster's run workers and ``python -c``:
    the run would vanish without an error. Giving ``__main__`` a file name for
    the duration of the import avoids that, and nothing else changes.
    """
    import sys

    main = sys.modules.get("__main__")
    patched = main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if patched:
        main.__file__ = "<ferry>"
    try:
        import great_expectations

        return great_expectations
    finally:
        if patched:
            del main.__file__


class _LazyGreatExpectations:
    """`gx`, imported on first use: GE's import takes seconds, and loading the code
    location (the UI's start-up) only declares checks; runs that evaluate them import it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_import_great_expectations(), name)


gx: Any = _LazyGreatExpectations()


@dataclass(frozen=True)
class Expectation:
    """One named expectation: the check name a marketer sees, and the GE expectation."""

    name: str
    expectation: Any  # a gx.expectations.* instance, or a function making one (GE imported on first use)
    why: str  # plain-language meaning, shown when it fails


@dataclass
class ExpectationOutcome:
    name: str
    passed: bool
    why: str
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        if self.passed:
            return f"{self.name}: ok"
        details = ", ".join(f"{k}={v}" for k, v in self.observed.items() if v is not None)
        return f"{self.name} failed: {self.why}" + (f" ({details})" if details else "")


@lru_cache(maxsize=1)
def _context():
    context = gx.get_context(mode="ephemeral")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


_counter = 0


def run_suite(suite_name: str, frame: pd.DataFrame, expectations: list[Expectation]) -> list[ExpectationOutcome]:
    """Validate ``frame`` against ``expectations``; one outcome per expectation, in order."""
    global _counter
    if not expectations:
        return []
    _counter += 1
    context = _context()
    source = context.data_sources.add_or_update_pandas(f"ferry_{_counter}")
    asset = source.add_dataframe_asset(suite_name)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = gx.ExpectationSuite(name=f"{suite_name}_{_counter}")
    for item in expectations:
        suite.add_expectation(item.expectation() if callable(item.expectation) else item.expectation)
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    outcomes: list[ExpectationOutcome] = []
    # Match each result to its expectation by type and arguments (ephemeral suites carry no ids).
    remaining = list(result.results)

    def _take(expectation: Any):
        config = expectation.configuration
        for i, res in enumerate(remaining):
            kwargs = {k: v for k, v in res.expectation_config.kwargs.items() if k != "batch_id"}
            if res.expectation_config.type == config.type and kwargs == dict(config.kwargs):
                return remaining.pop(i)
        return None

    for item, expectation in zip(expectations, suite.expectations):
        res = _take(expectation)
        observed = {}
        if res is not None:
            raw = res.result or {}
            for key in ("observed_value", "unexpected_count", "unexpected_percent", "element_count"):
                if key in raw and raw[key] is not None:
                    value = raw[key]
                    observed[key] = round(value, 2) if isinstance(value, float) else value
        outcomes.append(
            ExpectationOutcome(item.name, bool(res is not None and res.success), item.why, observed)
        )
    context.data_sources.delete(source.name)
    return outcomes
