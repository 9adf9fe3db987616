"""Every sandbox, not only SendGrid, holds exactly the members the contract allows.

The syncs phase runs through the real Dagster definitions on a private copy of
the sample warehouse, against fresh vendor sandboxes (so nothing earlier tests
sent is counted). Then, per destination type, what the sandbox received is
compared with the eligible audience members computed from the marts alone
(``orchestration.testing.eligible_members``), and each sync's materialization
metadata is checked against the same numbers.

The 150-person sample has no RFM champions, the ads audience: the test fills
``aud_champions`` on its copy with the profiles that consented to ads (two in
the holdout), so Meta and Google Ads have members to receive. Meta's own floor
(100 people) is lowered in its fresh sandbox so the audience reports a size,
and the sync, held back by the destination's minimum, is confirmed the way a
marketer would (its ``confirm_<sync>`` job, launched without config).
"""

from __future__ import annotations

import csv
import shutil

import duckdb
import pytest
from dagster import DagsterInstance

from connectors.hashing import (
    google_hashed_email,
    normalize_email,
    normalize_phone_e164,
    sha256_hex,
)
from orchestration.assets.catalog import load_audiences
from orchestration.checks.audiences import sync_asset_key
from orchestration.testing import eligible_members, eligible_values


@pytest.fixture
def warehouse(tmp_path, monkeypatch, sample_warehouse, sample_warehouse_build):
    path = tmp_path / "sandboxes.duckdb"
    shutil.copyfile(sample_warehouse_build[0], path)
    monkeypatch.setenv("FERRY_DUCKDB_PATH", str(path))
    monkeypatch.setenv("FERRY_EXPORT_DIR", str(tmp_path / "exports"))
    conn = duckdb.connect(str(path))
    try:
        conn.execute(
            """
            insert into audiences.aud_champions by name
            select p.profile_id,
                   case when row_number() over (order by p.profile_id) <= 2 then 'holdout' else 'treatment' end
                       as variant,
                   p.email, p.phone, p.first_name, p.last_name, p.country, p.postcode
            from marts.customer_profiles p
            where p.profile_id in (select profile_id from marts.customer_consent
                                   where channel = 'ads' and is_consented)
              and p.profile_id not in (select profile_id from audiences.aud_champions)
            """
        )
    finally:
        conn.close()
    return path


def _syncs_of(kind: str):
    return [(a, s) for a in load_audiences() for s in a.syncs if s.destination.type == kind]


def _meta_values(result) -> dict:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            out[mat.asset_key] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def _run_syncs(defs, instance):
    """The syncs phase, then Meta confirmed (its destination minimum holds a small audience back)."""
    from orchestration.main_job import phase_keys, run_phase

    phase = run_phase(defs, instance, "syncs", phase_keys(defs)["syncs"])
    materialized = dict(phase.materialized)
    waiting = {
        step: why
        for step, why in phase.failures.items()
        if "below the destination's minimum" in why
    }
    assert phase.failures.keys() == waiting.keys(), phase.failures
    for _, sync in _syncs_of("meta"):
        key = sync_asset_key(sync)
        assert key not in materialized and any(sync.name in step for step in waiting)
        # One action: the sync's confirm job, launched as it is (no config to type).
        confirmed = defs.resolve_job_def(f"confirm_{sync.name}").execute_in_process(
            instance=instance, raise_on_error=False
        )
        assert confirmed.success
        materialized.update(_meta_values(confirmed))
    return materialized


def _check_metadata(conn, audience, sync, meta: dict, eligible: set[str]) -> None:
    size = conn.execute(f"select count(*) from {audience.relation}").fetchone()[0]
    assert meta["members"] == size, sync.name
    # A first run: every eligible member is an add (or one message), nothing to update or remove.
    assert meta["added"] + meta["sent"] == len(eligible), (sync.name, meta)
    assert meta["updated"] == 0 and meta["removed"] == 0, (sync.name, meta)
    assert meta["rejected"] == 0 and meta["parked"] == 0 and meta["result"] == "success", (sync.name, meta)
    # Every member not sent is accounted for by one suppression reason.
    reasons = {
        k.removeprefix("held_back_"): v
        for k, v in meta.items()
        if k.startswith("held_back_") and k != "held_back_by_reason"
    }
    assert sum(reasons.values()) == meta["held_back"] == size - len(eligible), (
        sync.name,
        meta,
    )
    table = meta["held_back_by_reason"]
    assert all(f"| {r} | {c} |" in table for r, c in reasons.items()), table
    if sync.policies.respect_holdout:
        holdout = conn.execute(
            f"select count(*) from {audience.relation} where variant = 'holdout'"
        ).fetchone()[0]
        assert reasons.get("holdout", 0) == holdout, (sync.name, reasons)
    assert isinstance(meta["duration_seconds"], float) and meta["duration_seconds"] > 0


def test_every_sandbox_holds_exactly_the_eligible_members(fresh_sandboxes, warehouse):
    from connectors.google_ads.datamanager_sandbox import local_sandbox as google_ads_sandbox
    from connectors.meta.sandbox import local_sandbox as meta_sandbox
    from connectors.twilio.sandbox import local_sandbox as twilio_sandbox
    from connectors.webhook.sandbox import local_receiver
    from orchestration.definitions import defs

    materialized = _run_syncs(defs, DagsterInstance.ephemeral())
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        eligible = {s.name: eligible_members(conn, a, s) for a in load_audiences() for s in a.syncs}
        for audience in load_audiences():
            for sync in audience.syncs:
                _check_metadata(
                    conn, audience, sync, materialized[sync_asset_key(sync)], eligible[sync.name]
                )

        # Twilio (send): one message per eligible member, to their E.164 number.
        sms = _syncs_of("twilio")
        assert sms
        expected_phones = sorted(
            normalize_phone_e164(v)
            for a, s in sms
            for v in eligible_values(conn, a, s, "phone").values()
        )
        assert expected_phones, "no SMS member: nothing proves the Twilio sync"
        assert sorted(m["to"] for m in twilio_sandbox().state.outbound()) == expected_phones

        # Webhook: the receiver holds one record per eligible key of every webhook sync.
        hooks = _syncs_of("webhook")
        expected_keys = set().union(*(eligible[s.name] for _, s in hooks))
        assert expected_keys, "no webhook member: nothing proves the webhook sync"
        assert set(local_receiver().state.records) == expected_keys
        # Every batch names the sync that sent it, so a receiver can tell audiences apart.
        assert {b["sync"] for b in local_receiver().state.batches} <= {s.name for _, s in hooks}

        # File export: the latest file(s) hold every eligible key of the file syncs.
        files = _syncs_of("file")
        export_dir = warehouse.parent / "exports"
        # One latest file per sync: two audiences exporting through one destination never mix.
        for _, sync in files:
            (path,) = export_dir.glob(f"*__{sync.name}_latest.csv")
            with path.open(newline="") as fh:
                assert {row["key"] for row in csv.DictReader(fh)} == eligible[sync.name], sync.name

        # Google Ads (mirror, Customer Match): the list holds the eligible members' hashed identifiers.
        for audience, sync in _syncs_of("google_ads"):
            emails = {  # Google's own formatting (Gmail without dots and +tag)
                google_hashed_email(v)
                for v in eligible_values(conn, audience, sync, "email").values()
            }
            phones = {
                sha256_hex(normalize_phone_e164(v))
                for v in eligible_values(conn, audience, sync, "phone").values()
            }
            assert emails, "no ads member: nothing proves the Google Ads sync"
            lists = [ul for ul in google_ads_sandbox().state.user_lists.values() if ul.size()]
            assert len(lists) == 1
            assert lists[0].identifiers("emailAddress") == emails
            assert lists[0].identifiers("phoneNumber") == phones
            assert (
                "match_rate" not in materialized[sync_asset_key(sync)]
            )  # Google reports sizes later

        # Meta (mirror): the audience holds the eligible hashed emails; its size gives the match rate.
        for audience, sync in _syncs_of("meta"):
            emails = {
                sha256_hex(normalize_email(v))
                for v in eligible_values(conn, audience, sync, "email").values()
            }
            (held_audience,) = meta_sandbox().state.audiences.values()
            assert held_audience.values("EMAIL") == emails
            matched = meta_sandbox().matched(held_audience)
            rate = materialized[sync_asset_key(sync)]["match_rate"]
            assert 0 < rate <= 1 and rate == pytest.approx(
                matched / len(eligible[sync.name]), abs=0.01
            )
    finally:
        conn.close()
