"""Fixtures for the sync engine: a throwaway DuckDB warehouse with an audience and policy marts."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from syncs.config import DestinationSpec, FieldMapping, Policies, SyncConfig


def make_sync(mode: str = "mirror", channel: str = "email", **overrides: Any) -> SyncConfig:
    policies = overrides.pop("policies", {})
    fields = overrides.pop("fields", {"first_name": FieldMapping(column="first_name")})
    base = {
        "name": f"aud_test__loop_{mode}",
        "audience": "aud_test",
        "schema_name": "audiences",
        "table": "aud_test",
        "destination_name": "loop",
        "destination": DestinationSpec(type="loopback"),
        "mode": mode,
        "channel": channel,
        "identifiers": {"email": "email"},
        "fields": fields,
        "policies": Policies(**{"max_removal_share": 1.0, **policies}),
        "occurrence": "entered_at" if mode == "send" else None,
    }
    base.update(overrides)
    return SyncConfig(**base)


def create_warehouse(conn: duckdb.DuckDBPyConnection, policies: bool = True) -> None:
    conn.execute("create schema if not exists audiences")
    conn.execute("create schema if not exists marts")
    conn.execute(
        "create or replace table audiences.aud_test (profile_id varchar, email varchar, first_name varchar, "
        "variant varchar, entered_at varchar)"
    )
    if policies:
        conn.execute(
            "create or replace table marts.customer_consent (profile_id varchar, channel varchar, "
            "is_consented boolean, consent_source varchar, consent_changed_at timestamp)"
        )
        conn.execute(
            "create or replace table marts.customer_suppressions (profile_id varchar, channel varchar, "
            "reason varchar, suppressed_at timestamp)"
        )
        conn.execute(
            "create or replace table marts.marketing_pressure (profile_id varchar, channel varchar, pressure double)"
        )


def set_audience(
    conn: duckdb.DuckDBPyConnection, rows: list[tuple], consent_all: bool = True
) -> None:
    """rows: (profile_id, email, first_name, variant[, entered_at])."""
    conn.execute("delete from audiences.aud_test")
    for row in rows:
        row = tuple(row) + (None,) * (5 - len(row))
        conn.execute("insert into audiences.aud_test values (?, ?, ?, ?, ?)", list(row))
    if consent_all:
        conn.execute("delete from marts.customer_consent")
        conn.execute(
            "insert into marts.customer_consent select profile_id, 'email', true, 'test', null "
            "from audiences.aud_test"
        )


@pytest.fixture
def conn(tmp_path):
    c = duckdb.connect(str(tmp_path / "wh.duckdb"))
    create_warehouse(c)
    yield c
    c.close()


# --------------------------------------------------------------------------- PostgreSQL


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A throwaway PostgreSQL on 127.0.0.1 (trust auth), for the portability tests; skipped without binaries."""
    import os
    import shutil
    import subprocess

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL binaries not found")
    import tempfile
    from pathlib import Path

    # Not under pytest's tmp dir: that is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="ferry-syncs-pg-"))
    data = root / "data"
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser")
        shutil.chown(root, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        prefix + [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        prefix
        + [
            pg_ctl,
            "-D",
            str(data),
            "-w",
            "-l",
            str(root / "log"),
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield {"host": "127.0.0.1", "port": port, "user": "postgres", "dbname": "postgres"}
    finally:
        subprocess.run(
            prefix + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_conn(pg_server):
    import uuid

    import psycopg

    admin = psycopg.connect(**pg_server, autocommit=True)
    db = f"t_{uuid.uuid4().hex[:12]}"
    admin.execute(f"create database {db}")
    conn = psycopg.connect(**{**pg_server, "dbname": db}, autocommit=True)
    yield conn
    conn.close()
    admin.execute(f"drop database {db} with (force)")  # the closed session may still be exiting
    admin.close()
