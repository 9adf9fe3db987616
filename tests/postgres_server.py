"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests and benchmarks.

Why by hand and not a service: CI starts from a fresh machine with nothing
running, so the project itself creates a cluster in a temporary directory (from
Debian's packages, installed by tests/system_deps.sh), starts it on a free port,
and removes it afterwards. initdb refuses to run as root, so when we are root
the cluster is owned by the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found: run tests/system_deps.sh")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    data_dir: Path
    _as_user: list[str]

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def env(self) -> dict[str, str]:
        """The variables dbt's `postgres` target and the sync engine read."""
        return {
            "FERRY_PG_HOST": self.host,
            "FERRY_PG_PORT": str(self.port),
            "FERRY_PG_USER": self.user,
            "FERRY_PG_PASSWORD": self.password,
            "FERRY_PG_DATABASE": self.dbname,
            # The throwaway server belongs to the test alone: its `postgres` target is
            # production there (plain schema names, as the tests query them). The README
            # steps test drops this to build the developer's prefixed schemas.
            "FERRY_PROD_TARGETS": "postgres",
        }

    def stop(self) -> None:
        subprocess.run(
            [*self._as_user, str(_bin_dir() / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_postgres(user: str = "ferry", password: str = "ferry", dbname: str = "ferry") -> PostgresServer:
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="ferry-pg-"))
    data_dir = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = root / "pw"
    pwfile.write_text(password)
    if as_user:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", user, "--pwfile", str(pwfile),
         "-A", "scram-sha-256", "-E", "UTF8", "--locale", "C"],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-o", opts, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    server = PostgresServer("127.0.0.1", port, user, password, dbname, data_dir, as_user)
    import psycopg

    deadline = time.time() + 30
    while True:
        try:
            with psycopg.connect(f"postgresql://{user}:{password}@127.0.0.1:{port}/postgres", autocommit=True) as c:
                c.execute(f'create database "{dbname}"')
            break
        except psycopg.OperationalError:
            if time.time() > deadline:
                server.stop()
                raise
            time.sleep(0.3)
    return server
