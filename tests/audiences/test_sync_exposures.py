"""The generated exposures: one per audience sync, and the committed file up to date."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from orchestration.paths import DBT_PROJECT_DIR
from orchestration.sync_exposures import EXPOSURES_FILE, render_exposures, stale, write_exposures


def test_committed_exposures_are_up_to_date() -> None:
    assert not stale(DBT_PROJECT_DIR), "run `ferry audiences compile` and commit the result"


def test_one_exposure_per_sync_of_the_manifest() -> None:
    from orchestration.assets.catalog import load_sync_configs

    exposures = yaml.safe_load((DBT_PROJECT_DIR / EXPOSURES_FILE).read_text())["exposures"]
    by_name = {e["name"]: e for e in exposures}
    syncs = load_sync_configs()
    assert syncs and set(by_name) == {s.name for s in syncs}
    for sync in syncs:
        exposure = by_name[sync.name]
        assert exposure["depends_on"] == [f"ref('{sync.audience}')"]
        assert exposure["meta"]["ferry"]["destination"] == sync.destination_name
        assert exposure["meta"]["ferry"]["mode"] == sync.mode


def test_a_new_sync_makes_the_file_stale(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR / "models" / "audiences", project / "models" / "audiences")
    shutil.copy(DBT_PROJECT_DIR / "destinations.yml", project / "destinations.yml")
    assert not stale(project)
    (project / "models" / "audiences" / "extra.yml").write_text(
        "version: 2\nmodels:\n  - name: aud_extra\n    config:\n      meta:\n        ferry:\n"
        "          syncs:\n            - {destination: crm_webhook, mode: insert, name: extra_sync,"
        " identifiers: {email: email}}\n"
    )
    assert stale(project)
    assert write_exposures(project) and not stale(project)
    assert "name: extra_sync" in render_exposures(project)
