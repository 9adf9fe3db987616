"""Shared fixtures. Each area's fixtures live in its own conftest under tests/<area>/."""

from __future__ import annotations

import os

# Tests never reach the network and never touch the user's warehouse.
os.environ.setdefault("FERRY_ENV", "test")
