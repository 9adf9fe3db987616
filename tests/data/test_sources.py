"""Every source has tests and a freshness rule, and both hold on a freshly loaded warehouse.

A small warehouse generated with today's date as its reference (the generator
stamps `_loaded_at` with the start of that day, as a daily ELT load would) plus a
few engagement rows landed through the real landing code (which stamps
`received_at` with now): `dbt test --select source:*` and `dbt source freshness`
must both succeed, every source table must have been checked, and the SendGrid
and Twilio sources must carry their key tests.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from connectors.engagement_store import EngagementStore
from tests import prebuild
from tests.data.conftest import SEED, WAREHOUSE, run_dbt

PEOPLE = 40
ENGAGEMENT_TABLES = {
    "sendgrid": ("events", "suppressions"),
    "twilio": ("message_status", "opt_outs"),
}


def _land_engagement(path: Path) -> None:
    """A few rows in each engagement table, through the landing the receivers and pulls use."""
    store = EngagementStore(path, linger=0)
    now_s = int(dt.datetime.now(dt.UTC).timestamp())
    store.land(
        "sendgrid_events",
        [
            {"sg_event_id": f"ev{i}", "sg_message_id": "m1", "event": kind, "email": "a@example.com",
             "event_timestamp": now_s}
            for i, kind in enumerate(("processed", "delivered", "open"))
        ],
        ingest_source="webhook",
    )  # fmt: skip
    store.land(
        "sendgrid_suppressions",
        [
            {"suppression_type": "bounces", "email": "b@example.com", "created": now_s},
            {"suppression_type": "spam_reports", "email": "b@example.com", "created": now_s},
        ],
        ingest_source="pull",
    )
    store.land(
        "twilio_message_status",
        [
            {"message_sid": "SM1", "message_status": status, "to_number": "+33612345678"}
            for status in ("queued", "sent", "delivered")
        ],
        ingest_source="webhook",
    )
    store.land(
        "twilio_opt_outs",
        [{"event_id": "SMin1", "phone": "+33612345678", "keyword": "STOP", "opted_out": True}],
        ingest_source="webhook",
    )
    store.close()
    _record_a_send(path)


def _record_a_send(path: Path) -> None:
    """One send in the engine's ledger (source ferry_sync), written as the engine writes it."""
    from syncs import state as st
    from syncs.warehouse import Warehouse

    with duckdb.connect(str(path)) as con:
        st.ensure_state(Warehouse(con))
        now = st.utc_now()
        con.execute(
            f"insert into {st.LEDGER} (sync_name, idempotency_key, record_key, status, attempts, "
            "payload_json, destination_id, created_at, updated_at, destination_key) "
            "values ('aud_x__twilio', 'k1', 'p1', 'sent', 1, '{\"ferry_audience\": \"aud_x\"}', 'SM1', ?, ?, "
            "'twilio:sandbox:account=AC1')",
            [now, now],
        )


@dataclass
class DbtRun:
    """One dbt invocation's exit code, output and the artifacts it left in the target."""

    returncode: int
    output: str
    artifacts: dict[str, dict]


def _dbt(args: list[str], path: Path, work: Path, *artifacts: str) -> DbtRun:
    target = work / "target"
    for name in artifacts:  # never read an earlier run's
        (target / name).unlink(missing_ok=True)
    result = run_dbt(args, path, work)
    return DbtRun(
        result.returncode,
        result.stdout[-4000:] + result.stderr[-2000:],
        {n: json.loads((target / n).read_text()) for n in artifacts if (target / n).exists()},
    )


def _in_folder(work: Path, name: str) -> Path:
    (work / name).mkdir()
    return work / name / WAREHOUSE


@prebuild.job("source_checks")
def _check_sources(work: Path) -> dict[str, DbtRun]:
    """The dbt runs this module asserts on, made in the background when the session
    starts (tests/prebuild.py), each with the artifacts it wrote:
    - a warehouse generated today (the generator stamps `_loaded_at` with the start of
      that day), before any engagement landed: engagement source tests;
    - the same after engagement landed: every source test, and source freshness;
    - a copy where another loader (no primary key) landed SendGrid events with a
      repeated and a missing key: engagement source tests again."""
    generated = prebuild.generate(
        _in_folder(work, "generated"), PEOPLE, SEED, dt.datetime.now(dt.UTC).date()
    )
    loaded = _in_folder(work, "loaded")
    shutil.copyfile(generated, loaded)
    _land_engagement(loaded)
    bad = _in_folder(work, "bad_loader")
    shutil.copyfile(generated, bad)
    with duckdb.connect(str(bad)) as con:  # no primary key, unlike the engagement store
        con.execute(
            "create table raw.sendgrid_events as select * from (values"
            " ('ev1', 'delivered', now()), ('ev1', 'open', now()), (null, 'click', now()),"
            " ('ev2', null, now())) as t(sg_event_id, event, received_at)"
        )
    engagement = ["test", "--select", "source:sendgrid", "source:twilio"]
    return {
        "sources": _dbt(
            ["test", "--select", "source:*"], loaded, work, "run_results.json", "manifest.json"
        ),
        "freshness": _dbt(["source", "freshness"], loaded, work, "sources.json"),
        "before_landing": _dbt(engagement, generated, work, "run_results.json"),
        "bad_loader": _dbt(engagement, bad, work, "run_results.json"),
    }


@pytest.fixture(scope="module")
def source_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DbtRun]:
    return prebuild.result("source_checks", tmp_path_factory)


def _source_tables() -> set[tuple[str, str]]:
    """(source, table) for every source table in the project's YAML, read without dbt."""
    import yaml

    from orchestration.paths import DBT_PROJECT_DIR

    found = set()
    for path in (DBT_PROJECT_DIR / "models").rglob("_*__sources.yml"):
        for source in yaml.safe_load(path.read_text()).get("sources", []):
            found |= {(source["name"], t["name"]) for t in source.get("tables", [])}
    return found


def test_source_tests_pass_and_engagement_keys_are_tested(source_runs: dict[str, DbtRun]) -> None:
    result = source_runs["sources"]
    assert result.returncode == 0, result.output
    run, manifest = result.artifacts["run_results.json"], result.artifacts["manifest.json"]
    statuses = {r["unique_id"]: r["status"] for r in run["results"]}
    assert statuses and set(statuses.values()) <= {"pass", "warn"}, statuses
    # which columns of which engagement source carry a unique / not_null test
    tested: dict[tuple[str, str], set[str]] = {}
    for uid in statuses:
        node = manifest["nodes"][uid]
        for parent in node["depends_on"]["nodes"]:
            kind, _, source, table = (parent.split(".") + ["", "", "", ""])[:4]
            if kind == "source" and source in ENGAGEMENT_TABLES:
                name = node["test_metadata"]["name"]
                kwargs = node["test_metadata"].get("kwargs") or {}
                column = node.get("column_name") or kwargs.get("column_name") or ""
                tested.setdefault((source, table), set()).add(f"{name}:{column}")
    unique, not_null = "unique_once_landed", "not_null_once_landed"
    assert {f"{unique}:sg_event_id", f"{not_null}:sg_event_id"} <= tested[("sendgrid", "events")]
    assert {f"{unique}:event_id", f"{not_null}:event_id"} <= tested[("twilio", "opt_outs")]
    assert (
        f"{unique}:concat(message_sid, '|', message_status)" in tested[("twilio", "message_status")]
    )
    assert (
        f"{unique}:concat(suppression_type, '|', email, '|', created)"
        in tested[("sendgrid", "suppressions")]
    )


def test_every_source_is_fresh(source_runs: dict[str, DbtRun]) -> None:
    result = source_runs["freshness"]
    assert result.returncode == 0, result.output
    freshness = result.artifacts["sources.json"]
    checked = {}
    for r in freshness["results"]:
        _, _, source, table = r["unique_id"].split(".")
        checked[(source, table)] = r["status"]
    # every source table of the project has a freshness rule and was checked
    assert set(checked) == _source_tables()
    assert {s for s, _ in checked} >= {"crm", "shop", "web", "consent", "sendgrid", "twilio", "ferry_sync"}
    # loaded today and just now: nothing is even late
    assert set(checked.values()) == {"pass"}, checked


def _failed_tests(run: DbtRun) -> set[str]:
    results = run.artifacts["run_results.json"]["results"]
    return {r["unique_id"].split(".")[2] for r in results if r["status"] != "pass"}


def test_engagement_key_tests_wait_for_the_first_landing_then_bite(
    source_runs: dict[str, DbtRun],
) -> None:
    """Before anything landed a fresh warehouse's source tests pass (nothing to test);
    a table landed by another loader with a repeated and a missing key fails them."""
    result = source_runs["before_landing"]
    assert result.returncode == 0, result.output
    assert _failed_tests(result) == set()

    result = source_runs["bad_loader"]
    assert result.returncode != 0
    assert _failed_tests(result) == {
        "source_unique_once_landed_sendgrid_events_sg_event_id",
        "source_not_null_once_landed_sendgrid_events_sg_event_id",
        "source_not_null_once_landed_sendgrid_events_event",
    }
