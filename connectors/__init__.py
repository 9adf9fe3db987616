"""Connectors: one package per tool (destination, engagement source, local sandbox).

Connectors never import Dagster or the sync engine's internals; the engine hands
them the small shared types in :mod:`connectors.base`.
"""
