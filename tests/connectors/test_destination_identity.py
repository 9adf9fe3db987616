"""Destination identity, target label, and the sandbox as a choice (never a fallback).

Every project destination is built from dbt_project/destinations.yml the way a
sync builds it: with credentials it names the real host and account (never a
secret); without them it refuses to build, naming the variables, unless the
sandbox was chosen (FERRY_SANDBOX=1 or `sandbox: true`), in which case every
label and identity says `sandbox`.
"""

from __future__ import annotations

import pytest

from connectors.base import MissingCredentials
from orchestration.paths import DBT_PROJECT_DIR
from syncs.config import load_destinations
from syncs.registry import build_destination

DESTINATIONS = load_destinations(DBT_PROJECT_DIR / "destinations.yml")

SECRETS = {
    "SENDGRID_API_KEY": "SG.real-looking-key.secret-part",
    "TWILIO_ACCOUNT_SID": "AC" + "7" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-secret-token",
    "TWILIO_MESSAGING_SERVICE_SID": "MG" + "5" * 32,
    "META_ACCESS_TOKEN": "EAAB-meta-secret-token",
    "META_AUDIENCE_ID": "23851111111111",
    "GOOGLE_ADS_CUSTOMER_ID": "9876543210",
    "GOOGLE_ADS_USER_LIST_ID": "777",
    "GOOGLE_ADS_DEVELOPER_TOKEN": "google-dev-secret",
    "GOOGLE_ADS_REFRESH_TOKEN": "google-refresh-secret",
    "GOOGLE_ADS_CLIENT_ID": "client-id",
    "GOOGLE_ADS_CLIENT_SECRET": "google-client-secret",
    "FERRY_WEBHOOK_URL": "https://user:pw@hooks.example.com/ferry/in?token=hook-secret-token",
    "FERRY_WEBHOOK_SECRET": "whsec-0123456789abcdef-secret",
}

REAL = {
    "sendgrid_marketing": ("api.sendgrid.com", "sendgrid:api.sendgrid.com:list=ferry_marketing"),
    "sendgrid_transactional": ("api.sendgrid.com", "sendgrid:api.sendgrid.com:from=hello@ferry.example"),
    "twilio_sms": (
        "api.twilio.com",
        (f"twilio:api.twilio.com:account={SECRETS['TWILIO_ACCOUNT_SID']}:"
        f"sender={SECRETS['TWILIO_MESSAGING_SERVICE_SID']}"),
    ),
    "meta_custom_audience": ("graph.facebook.com", "meta:graph.facebook.com:audience=23851111111111"),
    "google_ads_customer_match": ("datamanager.googleapis.com", "google_ads:9876543210:777"),
    "crm_webhook": ("hooks.example.com", "webhook:https://hooks.example.com/ferry/in"),
}

MISSING = {
    "sendgrid_marketing": ["SENDGRID_API_KEY"],
    "sendgrid_transactional": ["SENDGRID_API_KEY"],
    "twilio_sms": ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"],
    "meta_custom_audience": ["META_ACCESS_TOKEN", "META_AUDIENCE_ID"],
    "google_ads_customer_match": ["GOOGLE_ADS_REFRESH_TOKEN", "GOOGLE_ADS_CLIENT_ID"],
    "crm_webhook": ["FERRY_WEBHOOK_URL", "FERRY_WEBHOOK_SECRET"],
}


@pytest.fixture
def no_sandbox(monkeypatch):
    """Outside sandbox mode, with none of the vendors' variables set in the process."""
    monkeypatch.delenv("FERRY_SANDBOX", raising=False)
    for name in [*SECRETS, "SENDGRID_API_KEY", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"]:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_credentials_name_the_host_and_account_never_a_secret(no_sandbox, name):
    destination = build_destination(DESTINATIONS[name], SECRETS)
    label, identity = REAL[name]
    assert destination.target_label == label
    assert destination.destination_identity == identity
    assert not destination.is_sandbox
    for secret in ("secret", "token=", "pw@", SECRETS["SENDGRID_API_KEY"]):
        assert secret not in destination.destination_identity


@pytest.mark.parametrize("name", sorted(MISSING))
def test_missing_credentials_fail_the_build_naming_the_variables(no_sandbox, name):
    from connectors.sandbox import SandboxServer

    started: list[SandboxServer] = []
    real_start = SandboxServer.start

    def spy(self):
        started.append(self)
        return real_start(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SandboxServer, "start", spy)
        with pytest.raises(MissingCredentials) as caught:
            build_destination(DESTINATIONS[name], {})
    message = str(caught.value)
    for variable in MISSING[name]:
        assert variable in message, message
    assert "FERRY_SANDBOX=1" in message and f"type {DESTINATIONS[name].type!r}" in message
    assert not started, "a destination without credentials reached for a sandbox"


def test_the_sandbox_is_chosen_per_destination_or_for_the_process(no_sandbox, monkeypatch):
    spec = DESTINATIONS["sendgrid_marketing"]
    chosen = spec.model_copy(update={"options": {**spec.options, "sandbox": True}})
    one = build_destination(chosen, {})
    assert one.is_sandbox and one.target_label == "sandbox"
    assert one.destination_identity == "sendgrid:sandbox:list=ferry_marketing"
    # `sandbox: true` wins over credentials: a destination marked sandbox never reaches the vendor.
    assert build_destination(chosen, SECRETS).target_label == "sandbox"

    monkeypatch.setenv("FERRY_SANDBOX", "1")
    for name in MISSING:
        destination = build_destination(DESTINATIONS[name], {})
        assert destination.target_label == "sandbox", name
        assert ":sandbox" in destination.destination_identity, destination.destination_identity
    # With credentials, sandbox mode does not hide the real target: the label says where.
    assert build_destination(DESTINATIONS["sendgrid_marketing"], SECRETS).target_label == "api.sendgrid.com"


def test_two_sandbox_instances_are_two_identities():
    """A sandbox reached at an explicit address is named by it (re-pointing is a new target)."""
    from connectors.sendgrid.sandbox import SANDBOX_API_KEY

    spec = DESTINATIONS["sendgrid_marketing"]
    a = build_destination(spec, {"SENDGRID_API_KEY": SANDBOX_API_KEY, "SENDGRID_HOST": "http://127.0.0.1:8001"})
    b = build_destination(spec, {"SENDGRID_API_KEY": SANDBOX_API_KEY, "SENDGRID_HOST": "http://127.0.0.1:8002"})
    assert a.destination_identity == "sendgrid:sandbox@127.0.0.1:8001:list=ferry_marketing"
    assert b.destination_identity != a.destination_identity
    assert a.target_label == b.target_label == "sandbox"


def test_file_identity_is_the_resolved_file(tmp_path):
    destination = build_destination(
        DESTINATIONS["file_export"], {"FERRY_EXPORT_DIR": str(tmp_path / "out")}
    )
    assert destination.destination_identity == f"file:{(tmp_path / 'out' / 'export_latest.csv').resolve()}"
    assert destination.target_label == str((tmp_path / "out").resolve())
