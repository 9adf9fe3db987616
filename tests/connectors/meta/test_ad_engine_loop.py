"""The sync engine driving the ad-tool destinations against their sandboxes (DuckDB warehouse).

Checks the fit between the engine's records (identifier + field payloads, removes
carrying the identifiers stored at add time) and the Meta/Google connectors.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.google_ads.datamanager_sandbox import DataManagerSandbox
from connectors.google_ads.sandbox import GoogleAdsSandbox
from connectors.hashing import sha256_hex
from connectors.meta.sandbox import MetaSandbox
from syncs import engine
from syncs.config import DestinationSpec, Policies, SyncConfig
from syncs.registry import build_destination


def warehouse(path: Path, n: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists audiences")
    con.execute("create schema if not exists marts")
    con.execute("create or replace table audiences.aud_ads (profile_id varchar, email varchar, phone varchar, "
                "first_name varchar, country varchar, variant varchar)")
    con.execute("create or replace table marts.customer_consent (profile_id varchar, channel varchar, "
                "is_consented boolean, consent_source varchar, consent_changed_at timestamp)")
    con.execute("create or replace table marts.customer_suppressions (profile_id varchar, channel varchar, "
                "reason varchar, suppressed_at timestamp)")
    con.execute("create or replace table marts.marketing_pressure (profile_id varchar, channel varchar, "
                "pressure double)")
    set_members(con, 0, n)
    return con


def set_members(con: duckdb.DuckDBPyConnection, lo: int, hi: int) -> None:
    """Members prof<lo>..prof<hi-1>, all consented for ads (set-based: fast on DuckDB)."""
    con.execute("delete from audiences.aud_ads")
    con.execute("delete from marts.customer_consent")
    con.execute(
        "insert into audiences.aud_ads select 'prof' || i, 'Person' || i || '@Example.com', "
        "'06 12 34 ' || lpad(cast(i // 100 as varchar), 2, '0') || ' ' || lpad(cast(i % 100 as varchar), 2, '0'), "
        "'Zoë', 'FR', 'treatment' from range(?, ?) t(i)", [lo, hi])
    con.execute("insert into marts.customer_consent select profile_id, 'ads', true, 'test', null from audiences.aud_ads")


def sync(kind: str, options: dict) -> SyncConfig:
    kind = kind.removesuffix("_legacy")
    return SyncConfig(
        name=f"aud_ads__{kind}", audience="aud_ads", schema_name="audiences", table="aud_ads",
        destination_name=kind, destination=DestinationSpec(type=kind, options=options), mode="mirror",
        channel="ads", identifiers={"email": "email", "phone": "phone", "first_name": "first_name",
                                    "country": "country"},
        policies=Policies(max_removal_share=0.5),
    )


@pytest.mark.parametrize("kind", ["meta", "google_ads", "google_ads_legacy"])
def test_mirror_add_then_remove_through_the_engine(tmp_path: Path, kind: str) -> None:
    """google_ads: the Data Manager API (the default); google_ads_legacy: ``api: google_ads_legacy``."""
    sandbox = {"meta": MetaSandbox, "google_ads": DataManagerSandbox, "google_ads_legacy": GoogleAdsSandbox}[kind]()
    with sandbox as sb:
        options = {"base_url": sb.base_url, "backoff_initial": 0.01}
        if kind == "meta":
            options |= {"audience_id": "42", "access_token": sb.access_token}
        elif kind == "google_ads":
            sb.user_list("2")
            options |= {"customer_id": "1", "user_list_id": "2", "access_token": sb.access_token}
        else:
            options |= {"api": "google_ads_legacy", "customer_id": "1", "user_list_id": "2",
                        "developer_token": sb.developer_token, "access_token": sb.access_token, "poll_interval": 0}
        s = sync(kind, options)
        con = warehouse(tmp_path / "wh.duckdb", 120)

        first = engine.run(s, con, build_destination(s.destination))
        assert first.status == "success" and first.sent == 120

        def held() -> set[str]:
            if kind == "meta":
                return sb.state.audiences["42"].values("EMAIL")
            if kind == "google_ads":
                return sb.user_list("2").identifiers("emailAddress")
            return sb.user_list("customers/1/userLists/2").identifiers("hashedEmail")

        assert held() == {sha256_hex(f"person{i}@example.com") for i in range(120)}

        set_members(con, 10, 120)  # ten people left the audience
        second = engine.run(s, con, build_destination(s.destination))
        assert second.status == "success" and second.sent == 10
        assert held() == {sha256_hex(f"person{i}@example.com") for i in range(10, 120)}
        con.close()


def test_meta_floor_stops_a_small_audience(tmp_path: Path) -> None:
    with MetaSandbox() as sb:
        s = sync("meta", {"base_url": sb.base_url, "audience_id": "42", "access_token": sb.access_token})
        con = warehouse(tmp_path / "wh.duckdb", 30)
        result = engine.run(s, con, build_destination(s.destination))
        assert result.status == "needs_confirmation" and "100" in (result.error or "")
        assert not sb.state.audiences
        con.close()


def test_meta_flagged_audience_stops_the_run_with_the_reason(tmp_path: Path) -> None:
    """Error 100/1713230 stops the run (state kept) instead of rejecting every record."""
    from connectors.base import DestinationStopped
    from connectors.meta.destination import MetaCustomAudience

    with MetaSandbox() as sb:
        sb.flag("42")
        s = sync("meta", {"base_url": sb.base_url, "backoff_initial": 0.01, "audience_id": "42",
                          "access_token": sb.access_token})
        con = warehouse(tmp_path / "wh.duckdb", 120)
        result = engine.run(s, con, build_destination(s.destination))
        assert result.status == "failed"  # stopped by the destination: state kept, reason given
        assert result.error.startswith("stopped by the destination")
        assert "is flagged" in result.error and "1713230" in result.error
        assert "not permitted under our terms" in result.error
        assert result.failed == 0 and result.sent == 0  # nobody rejected one by one
        assert len(sb.requests_to("POST", "/v25.0/42/users")) == 1  # stopped at the first answer

        # a read of the flagged audience stops the same way (operation_status 471)
        d = MetaCustomAudience.from_options({"base_url": sb.base_url, "audience_id": "42",
                                             "access_token": sb.access_token})
        with pytest.raises(DestinationStopped, match="operation_status 471"):
            d.pull_audience_size()
        assert d.last_audience_size is not None and d.last_audience_size.operation_status == 471

        # once Meta lifts the flag, the next run sends everyone
        sb.state.audiences["42"].flagged = None
        again = engine.run(s, con, build_destination(s.destination))
        assert again.status == "success" and again.sent == 120


@pytest.mark.parametrize("kind", ["meta", "google_ads"])
def test_ad_syncs_keep_several_requests_in_flight_within_their_limit(tmp_path: Path, kind: str) -> None:
    """One request per engine batch, up to the destination's max_concurrency at once.

    The first three add requests wait at the sandbox until all three arrived (a
    barrier: it passes only if three are in flight together); the sandbox counts the
    most in flight, which must never exceed the declared three.
    """
    import threading

    add_path = "/v25.0/42/users" if kind == "meta" else "/v1/audienceMembers:ingest"
    gate = threading.Barrier(3, timeout=30)
    count_lock = threading.Lock()
    seen = {"in_flight": 0, "most": 0, "gated": 0}

    def count(request, phase: str) -> None:
        if request.method != "POST" or request.path != add_path:
            return
        with count_lock:
            seen["in_flight"] += 1 if phase == "before" else -1
            seen["most"] = max(seen["most"], seen["in_flight"])
            wait = phase == "before" and seen["gated"] < 3
            seen["gated"] += wait
        if wait:
            gate.wait()

    sandbox = {"meta": MetaSandbox, "google_ads": DataManagerSandbox}[kind]()
    with sandbox as sb:
        options = {"base_url": sb.base_url, "backoff_initial": 0.01, "access_token": sb.access_token,
                   "max_concurrency": 3}
        if kind == "meta":
            options |= {"audience_id": "42", "max_users_per_request": 10}
        else:
            sb.user_list("2")
            options |= {"customer_id": "1", "user_list_id": "2", "max_members_per_request": 10}
        sb.on_request = count
        s = sync(kind, options)
        con = warehouse(tmp_path / "wh.duckdb", 120)
        result = engine.run(s, con, build_destination(s.destination))
        assert result.status == "success" and result.sent == 120
        assert len(sb.requests_to("POST", add_path + "$")) == 12
        assert seen["most"] == 3  # three at once (the barrier proves it), never four
        if kind == "meta":
            held = sb.state.audiences["42"].values("EMAIL")
        else:
            held = sb.user_list("2").identifiers("emailAddress")
        assert held == {sha256_hex(f"person{i}@example.com") for i in range(120)}
        con.close()
