"""Loading syncs from the dbt manifest and destinations.yml: validation names model/file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncs.config import SyncConfigError, find_sync, load_destinations, load_syncs
from syncs.registry import DestinationUnavailable, build_destination
from syncs.schedule import is_due, last_tick

DESTS = """
destinations:
  sg:
    type: sendgrid
    options: {api_key: "${SG_KEY}", host: "${SG_HOST:-http://127.0.0.1:9}", list_name: "l-${SG_SUFFIX}"}
  loop:
    type: loopback_missing
"""


def manifest(tmp_path: Path, ferry: dict, name: str = "aud_win_back") -> Path:
    node = {
        "unique_id": f"model.ferry.{name}",
        "resource_type": "model",
        "name": name,
        "schema": "audiences",
        "alias": name,
        "config": {"meta": {"ferry": ferry}},
    }
    other = {
        "unique_id": "model.ferry.customer_profiles",
        "resource_type": "model",
        "name": "customer_profiles",
        "schema": "marts",
        "config": {"meta": {}},
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": {node["unique_id"]: node, other["unique_id"]: other}}))
    return path


@pytest.fixture
def dests(tmp_path):
    path = tmp_path / "destinations.yml"
    path.write_text(DESTS)
    return path


GOOD = {
    "channel": "email",
    "syncs": [
        {
            "destination": "sg",
            "mode": "mirror",
            "schedule": "0 6 * * *",
            "identifiers": {"email": "email"},
            "fields": {"first_name": "first_name", "city": {"column": "city", "on_null": "clear"}},
            "policies": {"pressure_cap": 5, "max_removal_share": 0.1},
        }
    ],
}


def test_load_syncs_resolves_relation_mappings_and_policies(tmp_path, dests):
    [sync] = load_syncs(manifest(tmp_path, GOOD), dests)
    assert sync.name == "aud_win_back__sg"
    assert sync.relation == "audiences.aud_win_back"
    assert sync.mode == "mirror" and sync.channel == "email" and sync.key == "profile_id"
    assert sync.payload_columns() == {
        "email": ("email", "keep"),
        "first_name": ("first_name", "keep"),
        "city": ("city", "clear"),
    }
    assert sync.policies.pressure_cap == 5 and sync.policies.max_attempts == 5
    assert find_sync([sync], "aud_win_back__sg") is sync
    with pytest.raises(SyncConfigError, match="known: aud_win_back__sg"):
        find_sync([sync], "nope")


@pytest.mark.parametrize(
    "patch, where",
    [
        ({"mode": "merge"}, "model aud_win_back: meta.ferry.syncs.0.mode"),
        ({"destination": "nowhere"}, "meta.ferry.syncs.0.destination: 'nowhere' is not declared"),
        ({"identifiers": {}}, "meta.ferry.syncs.0.identifiers"),
        ({"schedule": "every day"}, "meta.ferry.syncs.0.schedule"),
        ({"policies": {"max_removal_share": 3}}, "meta.ferry.syncs.0.policies.max_removal_share"),
        ({"policies": {"pressure_capp": 3}}, "meta.ferry.syncs.0.policies.pressure_capp"),
        ({"fields": {"email": "email"}}, "meta.ferry.syncs.0.fields"),
    ],
)
def test_bad_sync_names_model_and_key(tmp_path, dests, patch, where):
    bad = json.loads(json.dumps(GOOD))
    bad["syncs"][0].update(patch)
    with pytest.raises(SyncConfigError) as err:
        load_syncs(manifest(tmp_path, bad), dests)
    assert where in str(err.value)


@pytest.mark.parametrize(
    "paths, declared",
    [
        (
            {
                "patch_path": "ferry://models/audiences/starter/_starter__models.yml",
                "original_file_path": "models/audiences/starter/aud_win_back.sql",
            },
            "models/audiences/starter/_starter__models.yml: model aud_win_back: meta.ferry.syncs.0",
        ),
        # meta set in the model's config() block: no YAML patch, the SQL file is named
        (
            {"original_file_path": "models/audiences/aud_win_back.sql"},
            "models/audiences/aud_win_back.sql: model aud_win_back: meta.ferry.syncs.0",
        ),
    ],
)
@pytest.mark.parametrize(
    "patch", [{"mode": "merge"}, {"destination": "nowhere"}, {"fields": {"email": "email"}}]
)
def test_bad_sync_names_the_yaml_file_too(tmp_path, dests, paths, declared, patch):
    bad = json.loads(json.dumps(GOOD))
    bad["syncs"][0].update(patch)
    path = manifest(tmp_path, bad)
    doc = json.loads(path.read_text())
    doc["nodes"]["model.ferry.aud_win_back"].update(paths)
    path.write_text(json.dumps(doc))
    with pytest.raises(SyncConfigError) as err:
        load_syncs(path, dests)
    assert str(err.value).startswith(declared)


def test_send_needs_a_channel(tmp_path, dests):
    bad = json.loads(json.dumps(GOOD))
    bad["channel"] = "none"
    bad["syncs"][0]["mode"] = "send"
    with pytest.raises(SyncConfigError, match="syncs.0.mode: send needs meta.ferry.channel"):
        load_syncs(manifest(tmp_path, bad), dests)


def test_bad_destinations_file_names_file_and_key(tmp_path):
    path = tmp_path / "destinations.yml"
    path.write_text("destinations:\n  sg:\n    type: sendgrid\n    option: {}\n")
    with pytest.raises(SyncConfigError, match=r"destinations.yml: destinations.sg.option"):
        load_destinations(path)
    path.write_text("destinations: [1, 2]\n")
    with pytest.raises(SyncConfigError, match="destinations.yml: key 'destinations'"):
        load_destinations(path)


def test_options_expand_environment_and_drop_unset(dests):
    spec = load_destinations(dests)["sg"]
    assert spec.resolved_options({"SG_SUFFIX": "x"}) == {
        "host": "http://127.0.0.1:9",
        "list_name": "l-x",
    }
    assert spec.resolved_options({"SG_KEY": "k", "SG_HOST": "h"})["api_key"] == "k"


def test_registry_is_lazy_and_names_the_missing_connector(dests):
    with pytest.raises(DestinationUnavailable, match="connectors.loopback_missing.destination"):
        build_destination(load_destinations(dests)["loop"])


def test_project_destinations_file_is_valid():
    dests = load_destinations(
        Path(__file__).resolve().parents[2] / "dbt_project" / "destinations.yml"
    )
    assert {"sendgrid", "twilio", "meta", "google_ads", "webhook", "file"} <= {
        d.type for d in dests.values()
    }


def test_cron_due():
    from datetime import datetime

    now = datetime(2026, 11, 25, 7, 30)
    assert last_tick("0 6 * * *", now) == datetime(2026, 11, 25, 6, 0)
    assert last_tick("*/15 * * * 1-5", now) == datetime(2026, 11, 25, 7, 30)
    assert last_tick("0 6 * * 0", now) == datetime(2026, 11, 22, 6, 0)  # last Sunday
    assert is_due("0 6 * * *", None, now)
    assert is_due("0 6 * * *", datetime(2026, 11, 25, 5, 59), now)
    assert not is_due("0 6 * * *", datetime(2026, 11, 25, 6, 1), now)
    assert not is_due(None, None, now)


SMS_DESTS = DESTS + """
  sms:
    type: twilio
    options: {from_number: "+15005550006"}
"""


def _sms_meta(channel: str, destination: str = "sms", quiet: dict | None = None) -> dict:
    policies = {"quiet_hours": quiet or {"start": "21:30", "end": "08:00"}}
    return {
        "channel": channel,
        "occurrence": "entered_at",
        "syncs": [
            {
                "destination": destination,
                "mode": "send",
                "identifiers": {"phone": "phone"},
                "policies": policies,
            }
        ],
    }


def test_quiet_hours_policy_reaches_the_sms_destination(tmp_path):
    dests = tmp_path / "destinations.yml"
    dests.write_text(SMS_DESTS)
    [sync] = load_syncs(manifest(tmp_path, _sms_meta("sms")), dests)
    assert sync.policies.quiet_hours.start == "21:30"
    destination = build_destination(sync.destination, sync=sync)
    assert destination.options.quiet_hours.start == "21:30"
    assert destination.options.quiet_hours.end == "08:00"
    # Without the policy the same destination sends around the clock.
    plain = build_destination(sync.destination)
    assert plain.options.quiet_hours is None


def test_quiet_hours_policy_is_refused_off_sms_and_where_it_cannot_be_honoured(tmp_path):
    dests = tmp_path / "destinations.yml"
    dests.write_text(SMS_DESTS)
    with pytest.raises(SyncConfigError, match=r"policies\.quiet_hours.*channel sms"):
        load_syncs(manifest(tmp_path, _sms_meta("email", destination="sg")), dests)
    with pytest.raises(SyncConfigError, match="HH:MM"):
        load_syncs(manifest(tmp_path, _sms_meta("sms", quiet={"start": "9pm", "end": "08:00"})), dests)
    [sync] = load_syncs(manifest(tmp_path, _sms_meta("sms")), dests)
    webhook = sync.model_copy(update={"destination": load_destinations(dests)["sg"]})
    with pytest.raises(DestinationUnavailable, match="cannot honour quiet hours"):
        build_destination(webhook.destination, sync=webhook)


# ---------------------------------------------------------------- bad input: the other syncs still load

BAD_INPUT_DESTS = """
destinations:
  sg:
    type: sendgrid
    options: {list_name: ok}
  sg_bad_option:
    type: sendgrid
    options: {list_name: ok, poll_timeout: "ten minutes"}
  sms:
    type: twilio
"""


def _two_audiences(tmp_path: Path, bad_sync: dict) -> Path:
    """aud_good syncs correctly; aud_bad declares `bad_sync` (one problem each test)."""
    good = {**GOOD, "syncs": [{**GOOD["syncs"][0], "destination": "sg"}]}
    nodes = {}
    for name, ferry in (("aud_good", good), ("aud_bad", {"channel": "email", "syncs": [bad_sync]})):
        nodes[f"model.ferry.{name}"] = {
            "unique_id": f"model.ferry.{name}",
            "resource_type": "model",
            "name": name,
            "schema": "audiences",
            "patch_path": f"ferry://models/audiences/_{name}.yml",
            "config": {"meta": {"ferry": ferry}},
        }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"nodes": nodes}))
    return path


@pytest.mark.parametrize(
    "bad_sync, where",
    [
        # a destination option of the wrong type (in destinations.yml)
        (
            {"destination": "sg_bad_option", "mode": "upsert", "identifiers": {"email": "email"}},
            (r"models/audiences/_aud_bad.yml: model aud_bad: meta.ferry.syncs.0.destination: "
            r"'sg_bad_option' is invalid: .*destinations.yml: destinations.sg_bad_option.options.poll_timeout: "
            r"Input should be a valid number"),
        ),
        # an unknown destination name in an audience
        (
            {"destination": "sendgrid_marketnig", "mode": "upsert", "identifiers": {"email": "email"}},
            (r"models/audiences/_aud_bad.yml: model aud_bad: meta.ferry.syncs.0.destination: "
            r"'sendgrid_marketnig' is not declared in destinations.yml \(known: sg, sg_bad_option, sms\)"),
        ),
        # a target that cannot do what the sync asks (Twilio only sends)
        (
            {"destination": "sms", "mode": "mirror", "identifiers": {"phone": "phone"}},
            (r"models/audiences/_aud_bad.yml: model aud_bad: meta.ferry.syncs.0.mode: destination type "
            r"'twilio' does not support mode 'mirror' \(it supports send\)"),
        ),
    ],
    ids=["option_type", "unknown_destination", "unsupported_mode"],
)
def test_one_bad_declaration_is_one_error_and_the_other_syncs_load(tmp_path, bad_sync, where):
    from syncs.config import load_sync_declarations

    dests = tmp_path / "destinations.yml"
    dests.write_text(BAD_INPUT_DESTS)
    path = _two_audiences(tmp_path, bad_sync)
    loaded = load_sync_declarations(path, dests)
    assert [s.name for s in loaded.syncs] == ["aud_good__sg"]
    bad_name = f"aud_bad__{bad_sync['destination']}"
    assert list(loaded.errors) == [bad_name] and loaded.error_models == {bad_name: "aud_bad"}
    import re

    assert re.search(where, loaded.errors[bad_name]), loaded.errors[bad_name]
    # The good sync is found; asking for the bad one gives its own error.
    assert loaded.find("aud_good__sg").audience == "aud_good"
    with pytest.raises(SyncConfigError, match="model aud_bad"):
        loaded.find(bad_name)
    # Strict loading (what a caller that needs everything uses) still refuses.
    with pytest.raises(SyncConfigError, match="model aud_bad"):
        load_syncs(path, dests)


def test_an_unreadable_meta_block_costs_only_its_own_model(tmp_path):
    from syncs.config import load_sync_declarations

    dests = tmp_path / "destinations.yml"
    dests.write_text(BAD_INPUT_DESTS)
    path = _two_audiences(tmp_path, {"destination": "sg", "mode": "sideways", "identifiers": {}})
    loaded = load_sync_declarations(path, dests)
    assert [s.name for s in loaded.syncs] == ["aud_good__sg"]
    assert list(loaded.errors) == ["aud_bad"]
    assert "models/audiences/_aud_bad.yml: model aud_bad: meta.ferry.syncs.0.mode" in loaded.errors["aud_bad"]
