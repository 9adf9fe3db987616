"""The whole pipeline on PostgreSQL: raw data copied in bulk, `dbt build` on the
`postgres` target (identity, scores, consent, audiences, with every data and unit
test), the same profiles as DuckDB, then the sync engine's plan and a sync to the
webhook sandbox with state in ferry_sync."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from syncs import engine
from syncs.config import load_syncs
from syncs.registry import build_destination
from syncs.warehouse import Warehouse
from tests import prebuild
from tests.engines.clusters import IDENTIFIERS_SQL, pairs, partition
from tests.engines.conftest import DBT_VARS, DUCKDB_ONLY_TESTS
from tests.engines.dbt_cli import run_dbt
from tests.engines.raw_copy import copy_raw_to_postgres

# Generous: the module builds the whole project on two engines, on a shared 2-core machine.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(1800)]


def _refuse_row_fetch(*_args, **_kwargs):
    raise AssertionError("row-by-row fetch from PostgreSQL: Arrow reads must go through ADBC")


@prebuild.job("postgres_build")
def _build_on_postgres(work: Path) -> dict:
    """Raw data copied in, then the whole project built on PostgreSQL (in the background
    when the session starts, see tests/prebuild.py)."""
    server = prebuild.result("postgres_server")
    counts = copy_raw_to_postgres(prebuild.result("generated_raw"), server.dsn)
    run_dbt(
        ["build", *DUCKDB_ONLY_TESTS],
        target="postgres",
        work=work,
        env=server.env(),
        dbt_vars=DBT_VARS,
    )
    return {"raw_counts": counts, "manifest": work / "target" / "manifest.json"}


@pytest.fixture(scope="module")
def postgres_build(postgres_server, tmp_path_factory) -> dict:
    return prebuild.result("postgres_build", tmp_path_factory)


def test_raw_copy_is_complete(postgres_server, postgres_build, generated_raw: Path) -> None:
    import duckdb

    with duckdb.connect(str(generated_raw), read_only=True) as con:
        expected = {
            t: con.execute(f'select count(*) from raw."{t}"').fetchone()[0]
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            ).fetchall()
        }
    with psycopg.connect(postgres_server.dsn) as conn:
        on_postgres = {
            t: conn.execute(f'select count(*) from raw."{t}"').fetchone()[0] for t in expected
        }
    assert on_postgres == expected
    assert expected["crm_contacts"] > 0 and expected["web_events"] > 0


def test_postgres_profiles_match_duckdb(postgres_server, postgres_build, duckdb_baseline) -> None:
    with psycopg.connect(postgres_server.dsn) as conn:
        on_postgres = partition(conn.execute(IDENTIFIERS_SQL).fetchall())
        merged = conn.execute(
            "select count(*) from (select profile_id from marts.customer_identifiers "
            "group by profile_id having count(distinct (source, source_record_id)) > 1) m"
        ).fetchone()[0]
    on_duckdb = duckdb_baseline.clusters()
    assert merged > 10, "the generated data must exercise merging"
    assert len(on_postgres) == len(on_duckdb)
    only_pg, only_duck = on_postgres - on_duckdb, on_duckdb - on_postgres
    assert not only_pg and not only_duck, (
        f"{len(only_pg)} clusters only on PostgreSQL, {len(only_duck)} only on DuckDB; "
        f"e.g. {sorted(map(sorted, only_pg))[:2]} vs {sorted(map(sorted, only_duck))[:2]}"
    )
    assert pairs(on_postgres) == pairs(on_duckdb)


def test_postgres_builds_audiences_and_marts(postgres_server, postgres_build) -> None:
    with psycopg.connect(postgres_server.dsn) as conn:
        audiences = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'audiences' and table_name like 'aud\\_%' order by 1"
            ).fetchall()
        ]
        sizes = {
            a: conn.execute(f'select count(*) from audiences."{a}"').fetchone()[0]
            for a in audiences
        }
        profiles = conn.execute(
            "select count(*), count(distinct profile_id) from marts.customer_profiles"
        ).fetchone()
        scored = conn.execute(
            "select count(*) from marts.customer_scores s join marts.customer_profiles p "
            "on p.profile_id = s.profile_id where s.lifecycle_stage is not null"
        ).fetchone()[0]
        fuzzy_edges = conn.execute("select count(*) from intermediate.int_fuzzy_edges").fetchone()[
            0
        ]
    assert len(audiences) >= 10
    assert sum(sizes.values()) > 0, sizes
    assert profiles[0] == profiles[1] > 100
    assert 0.9 * profiles[0] <= scored <= profiles[0]  # erased profiles are not scored
    assert (
        fuzzy_edges == 0
    )  # Splink scoring is DuckDB-only: no fuzzy pairs elsewhere (docs/engines.md)


def test_sync_engine_plans_and_syncs_on_postgres(
    postgres_server, postgres_build, monkeypatch
) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    from connectors.webhook.destination import WebhookOptions
    from connectors.webhook.sandbox import WebhookReceiver
    from orchestration.paths import DBT_PROJECT_DIR

    # Rows leave PostgreSQL as Arrow through ADBC (COPY binary), never row by row.
    adbc_reads: list[str] = []
    real_connect = adbc_pg.connect

    def counting_connect(*args, **kwargs):
        adbc_reads.append("connect")
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(adbc_pg, "connect", counting_connect)
    monkeypatch.setattr(psycopg.Cursor, "fetchmany", _refuse_row_fetch, raising=False)

    secret = "whsec-engines-0123456789abcdef"
    syncs = load_syncs(postgres_build["manifest"], DBT_PROJECT_DIR / "destinations.yml")
    webhook = next((s.destination for s in syncs if s.destination.type == "webhook"), None)
    assert webhook is not None, "no webhook destination used by the audiences"
    # Every upsert/mirror sync whose identifiers a webhook takes, sent to the webhook
    # sandbox: the engine's state and plan on PostgreSQL do not depend on the vendor,
    # and which audiences have members depends on the generated data.
    candidates = [
        s.model_copy(update={"destination": webhook})
        for s in syncs
        if s.mode in ("upsert", "mirror")
        and set(s.identifiers) <= set(WebhookOptions().identifiers)
    ]
    assert candidates, "no upsert/mirror sync a webhook can take"
    with psycopg.connect(postgres_server.dsn, autocommit=True) as conn:
        wh = Warehouse(conn)
        plans = {s.name: engine.plan(s, wh, sample_size=3) for s in candidates}
        sync = max(candidates, key=lambda s: plans[s.name].counts.get("add", 0))
        first = plans[sync.name]
        assert first.counts.get("add", 0) > 0, {n: p.counts for n, p in plans.items()}
        assert first.sample and all(r["operation"] == "upsert" for r in first.sample)
        # Planning writes nothing, not even the state schema.
        assert (
            conn.execute(
                "select count(*) from information_schema.schemata where schema_name = 'ferry_sync'"
            ).fetchone()[0]
            == 0
        )

        with WebhookReceiver(secret=secret) as receiver:
            destination = build_destination(
                sync.destination,
                {"FERRY_WEBHOOK_URL": receiver.url(), "FERRY_WEBHOOK_SECRET": secret},
            )
            result = engine.run(sync, wh, destination)
            assert result.status == "success", result.error
            assert result.sent == first.counts["add"]
            received = set(receiver.state.records)
            assert len(received) == first.counts["add"]
            state_keys = {
                r[0]
                for r in conn.execute(
                    "select record_key from ferry_sync.sync_state where sync_name = %s",
                    (sync.name,),
                ).fetchall()
            }
            audience = {
                r[0]
                for r in conn.execute(
                    f'select cast("{sync.key}" as text) from "{sync.schema_name}"."{sync.table}"'
                ).fetchall()
            }
            assert state_keys == received and received <= audience
            assert adbc_reads, "the sync read its rows without ADBC"
            again = engine.plan(sync, wh, sample_size=0)
            assert again.work == 0 and again.counts.get("unchanged", 0) == first.counts["add"]
