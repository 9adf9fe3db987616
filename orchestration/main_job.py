"""The whole loop as Dagster jobs (used by `ferry demo` and launchable from the UI)."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job


def build_main_jobs() -> list:
    return [
        define_asset_job(
            "ferry_main",
            selection=AssetSelection.all(),
            description="The whole loop: dbt build and checks, every sync, engagement pull-back, reporting.",
        )
    ]
