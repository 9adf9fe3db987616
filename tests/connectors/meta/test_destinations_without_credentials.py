"""With no credentials, the Meta, Google Ads and webhook destinations talk to local sandboxes."""

from __future__ import annotations

from pathlib import Path

from connectors.base import Operation, Outcome, Record


def test_destinations_yml_shapes_fall_back_to_local_sandboxes(tmp_path: Path) -> None:
    from syncs.registry import build_destination

    record = Record("p1", Operation.UPSERT, {"email": "p1@example.com", "phone": "+33 6 12 34 56 78"})
    built = {
        kind: build_destination({"type": kind, "options": options}, environ={})
        for kind, options in {
            "meta": {"audience_id": "${META_AUDIENCE_ID}", "access_token": "${META_ACCESS_TOKEN}",
                     "default_country": "FR"},
            "google_ads": {"customer_id": "${GOOGLE_ADS_CUSTOMER_ID}", "refresh_token": "${GOOGLE_ADS_REFRESH_TOKEN}",
                           "service_account_file": "${GOOGLE_ADS_SERVICE_ACCOUNT_FILE}", "default_country": "FR"},
            "webhook": {"url": "${FERRY_WEBHOOK_URL}", "secret": "${FERRY_WEBHOOK_SECRET}"},
            "file": {"path": str(tmp_path), "format": "parquet"},
        }.items()
    }
    for kind, destination in built.items():
        assert [r.outcome for r in destination.write([record])] == [Outcome.ACCEPTED], kind
        if kind != "file":
            assert destination.is_sandbox and "127.0.0.1" in destination.http.base_url
    size = built["meta"].pull_audience_size()
    assert size.lower_bound == 0  # one person: under Meta's floor, no size reported


def test_base_url_alone_points_at_a_standalone_sandbox() -> None:
    from connectors.google_ads import datamanager_sandbox as gsb
    from connectors.meta import sandbox as msb
    from syncs.registry import build_destination

    record = Record("p1", Operation.UPSERT, {"email": "p1@example.com"})
    meta, meta_env = msb._standalone()
    google, google_env = gsb._standalone()
    try:
        m = build_destination({"type": "meta", "options": {"base_url": "${META_BASE_URL}"}}, environ=meta_env)
        g = build_destination({"type": "google_ads", "options": {"base_url": "${GOOGLE_ADS_BASE_URL}"}},
                              environ=google_env)
        assert [r.outcome for r in m.write([record])] == [Outcome.ACCEPTED]
        assert [r.outcome for r in g.write([record])] == [Outcome.ACCEPTED]
        assert meta.state.audiences[meta_env["META_AUDIENCE_ID"]].members
        assert google.state.requests
    finally:
        meta.stop()
        google.stop()
