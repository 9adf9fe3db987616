"""Shared fixtures. Each area's fixtures live in its own conftest under tests/<area>/."""

from __future__ import annotations

import os

# Tests never reach the network and never touch the user's warehouse.
os.environ.setdefault("FERRY_ENV", "test")

from hypothesis import settings

# CI must not fail on a random draw nobody can reproduce: the default profile walks
# the same examples every run. `HYPOTHESIS_PROFILE=explore` searches afresh (and
# wider) when hunting for new counter-examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


import pytest

from tests import prebuild


@pytest.fixture(scope="session", autouse=True)
def _prebuilds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start the background builds the selected tests need (tests/prebuild.py)."""
    prebuild.start(request.session.items, tmp_path_factory)
    yield
    prebuild.finish()
