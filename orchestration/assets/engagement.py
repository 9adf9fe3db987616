"""Engagement pull assets, one per connector that has an engagement source.

A connector package ``connectors/<tool>/engagement.py`` that pulls from the
vendor lands rows in ``raw.<tool>_<entity>``; the asset keys are
``raw/<tool>_<entity>`` so they feed the dbt sources of the same tables.
"""

from __future__ import annotations

from dagster import AssetsDefinition


def build_engagement_assets() -> list[AssetsDefinition]:
    return []
