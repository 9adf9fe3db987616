"""The definitions load, and everything declared in the dbt manifest has its Dagster pieces.

CI-enforced: a module that no longer exists, a bad sync declaration or a
translator bug fails here, not in the UI.
"""

from __future__ import annotations

from dagster import AssetKey, Definitions

from orchestration.assets.catalog import load_audiences, load_sync_configs
from orchestration.assets.dbt import GROUPS, group_for
from orchestration.assets.dbt_project import load_manifest


def test_definitions_load():
    from orchestration.definitions import defs

    Definitions.validate_loadable(defs)
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"ferry_main", "build_warehouse"} <= jobs


def test_dbt_models_are_grouped_by_folder():
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    models = [n for n in load_manifest()["nodes"].values() if n["resource_type"] == "model"]
    for node in models:
        group = group_for(node)
        assert group in GROUPS, f"{node['name']} ({'/'.join(node['fqn'])}) landed in group {group}"
        key = AssetKey([group, node["name"]])
        assert graph.has(key), f"no asset {key.to_user_string()} for model {node['name']}"


def test_group_for_folder_paths():
    def node(*fqn: str) -> dict:
        return {"resource_type": "model", "fqn": ["ferry", *fqn], "name": fqn[-1]}

    assert group_for(node("staging", "shop", "stg_shop__orders")) == "staging"
    assert group_for(node("intermediate", "identity", "int_identifiers")) == "identity"
    assert group_for(node("marts", "customer_profiles")) == "profiles"
    assert group_for(node("marts", "scores", "customer_scores")) == "scores"
    assert group_for(node("marts", "consent", "customer_consent")) == "scores"
    assert group_for(node("audiences", "aud_win_back")) == "audiences"
    assert group_for(node("reporting", "campaign_performance")) == "reporting"


def test_every_audience_has_its_syncs_checks_schedules_and_sensor():
    from orchestration.checks.audiences import check_names, sync_asset_key
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    schedules = {s.name: s for s in defs.schedules or []}
    sensors = {s.name for s in defs.sensors or []}
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    check_keys = {k for k in graph.asset_check_keys}
    syncs = load_sync_configs()
    audiences = load_audiences()
    assert sum(len(a.syncs) for a in audiences) == len(syncs)
    for audience in audiences:
        assert f"{audience.name}_rebuilt" in sensors
        for name in check_names(audience):
            assert any(k.asset_key == audience.asset_key and k.name == name for k in check_keys), name
        for sync in audience.syncs:
            key = sync_asset_key(sync)
            assert graph.has(key), key
            assert audience.asset_key in graph.get(key).parent_keys
            assert f"sync_{sync.name}" in jobs
            if sync.schedule:
                assert schedules[f"{sync.name}_schedule"].cron_schedule == sync.schedule


def test_sync_schedules_and_sensors_start_stopped_even_with_credentials(monkeypatch):
    """Credentials appearing in the environment never turn a sync on: a person does."""
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    from orchestration.schedules import build_jobs_and_schedules
    from orchestration.sensors import build_sensors

    monkeypatch.setenv("SENDGRID_API_KEY", "SG.example-not-used")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-used")
    schedules = {s.name: s for s in build_jobs_and_schedules([])[1]}
    sensors = {s.name: s for s in build_sensors()}
    checked = 0
    for audience in load_audiences():
        assert sensors[f"{audience.name}_rebuilt"].default_status == DefaultSensorStatus.STOPPED
        for sync in audience.syncs:
            if sync.schedule:
                assert schedules[f"{sync.name}_schedule"].default_status == DefaultScheduleStatus.STOPPED
                checked += 1
    assert checked > 0


def test_every_sync_mode_is_supported_by_its_destination():
    """Caught at load, not at 6 a.m.: a sync whose destination cannot do its mode (or identifiers)."""
    from syncs.registry import build_destination

    problems = []
    for sync in load_sync_configs():
        caps = build_destination(sync.destination).capabilities
        if sync.mode not in caps.modes:
            problems.append(f"{sync.name}: mode {sync.mode} not in {sorted(caps.modes)}")
        missing = set(sync.identifiers) - set(caps.identifiers)
        if missing:
            problems.append(f"{sync.name}: identifiers {sorted(missing)} not in {sorted(caps.identifiers)}")
    assert not problems, problems


def test_a_bad_destination_option_costs_its_syncs_not_the_code_location(tmp_path):
    """One destination with an option of the wrong type: the definitions still load with
    every other sync, and each audience that used it carries a failed declarations check."""
    import os
    import subprocess
    import sys

    from orchestration.paths import DBT_PROJECT_DIR, PROJECT_ROOT

    text = (DBT_PROJECT_DIR / "destinations.yml").read_text()
    bad = text.replace("      format: csv\n", "      format: csv\n      max_batch_records: many\n")
    assert bad != text
    path = tmp_path / "destinations.yml"
    path.write_text(bad)
    probe = (
        "import json\n"
        "from orchestration.definitions import defs\n"
        "from orchestration.assets.catalog import load_sync_configs, load_sync_errors\n"
        "checks = sorted({k.asset_key.to_user_string() for c in defs.asset_checks or [] "
        "for k in c.check_keys if k.name == 'sync_declarations_valid'})\n"
        "print(json.dumps({'syncs': sorted(s.destination_name for s in load_sync_configs()), "
        "'errors': [m for _, m in load_sync_errors().values()], 'checks': checks}))\n"
    )
    env = {**os.environ, "FERRY_DESTINATIONS_FILE": str(path)}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert "file_export" not in found["syncs"] and "sendgrid_marketing" in found["syncs"]
    assert found["errors"] and all(
        "destinations.yml: destinations.file_export.options.max_batch_records" in m for m in found["errors"]
    ), found["errors"]
    assert found["checks"], "no audience shows the failed declaration"


def test_the_demo_chooses_the_sandboxes_and_ignores_real_credentials():
    from orchestration.commands.demo import choose_sandboxes

    environ = {"SENDGRID_API_KEY": "SG.real", "FERRY_WEBHOOK_URL": "https://hooks.example.com", "PATH": "/bin",
               "FERRY_EXPORT_DIR": "/tmp/exports"}
    lines = choose_sandboxes(environ)
    assert environ == {"PATH": "/bin", "FERRY_SANDBOX": "1", "FERRY_EXPORT_DIR": "/tmp/exports"}
    assert "FERRY_WEBHOOK_URL, SENDGRID_API_KEY" in lines[-1]
