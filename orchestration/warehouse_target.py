"""The warehouse of the active dbt target: what `ferry sync` and Dagster's syncs open.

Why read dbt's profile: the sync engine must diff in the warehouse dbt just
built, not in whatever file happens to exist. `dbt_project/profiles.yml` (or
`$DBT_PROFILES_DIR/profiles.yml`) already says which target is active
(`FERRY_DBT_TARGET`) and how to reach it; its `env_var(...)` calls are rendered
the way dbt renders them. DuckDB opens the embedded file (FERRY_DUCKDB_PATH),
PostgreSQL a psycopg 3 connection; other adapters (Spark) are refused for runs
with a clear error. Passwords are used, never printed: `label` is safe to show.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from orchestration.paths import DBT_PROJECT_DIR, duckdb_path

PROFILE = "ferry"
SUPPORTED = ("duckdb", "postgres")


class WarehouseTargetError(RuntimeError):
    """The active dbt target cannot be opened for syncs (or does not match the manifest)."""


@dataclass(frozen=True)
class WarehouseTarget:
    name: str  # the dbt target, e.g. duckdb, postgres, postgres_prod
    type: str  # the dbt adapter type
    duckdb_file: Path | None = None
    connect_kwargs: dict[str, Any] = field(default_factory=dict, repr=False)  # psycopg; holds the password

    @property
    def label(self) -> str:
        """Where syncs read and keep state, without secrets: `duckdb /path` or `postgres user@host:port/db`."""
        if self.duckdb_file is not None:
            return f"{self.name} ({self.duckdb_file})"
        k = self.connect_kwargs
        if self.type == "postgres":
            return f"{self.name} (postgres {k.get('user')}@{k.get('host')}:{k.get('port')}/{k.get('dbname')})"
        return f"{self.name} ({self.type})"

    def connect(self, read_only: bool = False) -> Any:
        """A connection the sync engine takes (DuckDB, or psycopg in autocommit)."""
        if self.type == "duckdb":
            import duckdb

            assert self.duckdb_file is not None
            if not self.duckdb_file.exists():
                raise WarehouseTargetError(
                    f"warehouse {self.duckdb_file} not found (run `ferry generate` and `dbt build` first)"
                )
            try:
                return duckdb.connect(str(self.duckdb_file), read_only=read_only)
            except duckdb.IOException as exc:
                # One writing process per DuckDB file: another sync run, a dbt build or the
                # UI's run worker has it open. Say so instead of a lock traceback.
                if "lock" not in str(exc).lower():
                    raise
                holder = re.search(r"PID (\d+)", str(exc))
                raise WarehouseTargetError(
                    f"warehouse {self.duckdb_file} is in use by another process"
                    f"{f' (PID {holder.group(1)})' if holder else ''}: a sync run, a dbt build or "
                    "the UI holds it; nothing was done, run again when it has finished"
                ) from None
        if self.type == "postgres":
            import psycopg

            try:
                return psycopg.connect(**self.connect_kwargs, autocommit=True)
            except psycopg.OperationalError as exc:
                raise WarehouseTargetError(f"cannot connect to {self.label}: {exc}") from None
        raise WarehouseTargetError(
            f"dbt target {self.name!r} ({self.type}) is not supported for sync runs: the sync engine "
            f"runs on {', '.join(SUPPORTED)} (see docs/engines.md)"
        )


def _env_var(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is None:
        raise WarehouseTargetError(f"profiles.yml: env_var {name!r} is not set and has no default")
    return default


def _render(value: Any) -> Any:
    """Render `{{ env_var(...) }}` (and filters such as `| int`) like dbt does, recursively."""
    if isinstance(value, dict):
        return {k: _render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment().from_string(value).render(env_var=_env_var)


def profiles_path() -> Path:
    return Path(os.environ.get("DBT_PROFILES_DIR", DBT_PROJECT_DIR)) / "profiles.yml"


def active_target(name: str | None = None, duckdb_file: Path | None = None) -> WarehouseTarget:
    """The dbt target `name` (default: the profile's active target, i.e. FERRY_DBT_TARGET)."""
    path = profiles_path()
    try:
        profile = (yaml.safe_load(path.read_text()) or {})[PROFILE]
    except (FileNotFoundError, KeyError, TypeError):
        raise WarehouseTargetError(f"{path}: no profile {PROFILE!r}") from None
    chosen = name or str(_render(profile.get("target", "duckdb")))
    outputs = profile.get("outputs") or {}
    if chosen not in outputs:
        raise WarehouseTargetError(
            f"{path}: target {chosen!r} is not one of outputs ({', '.join(sorted(outputs))})"
        )
    output = _render(outputs[chosen])
    kind = str(output.get("type"))
    if kind == "duckdb":
        # The embedded file the CLI, Dagster and dbt agree on (orchestration.paths pins it).
        return WarehouseTarget(chosen, kind, duckdb_file=(duckdb_file or duckdb_path()).resolve())
    if kind == "postgres":
        kwargs = {
            "host": output.get("host"),
            "port": int(output.get("port") or 5432),
            "user": output.get("user"),
            "password": output.get("password") or output.get("pass") or None,
            "dbname": output.get("dbname") or output.get("database"),
        }
        return WarehouseTarget(chosen, kind, connect_kwargs={k: v for k, v in kwargs.items() if v is not None})
    return WarehouseTarget(chosen, kind)


def check_manifest(manifest_path: Path, target: WarehouseTarget) -> None:
    """Refuse a manifest built for another adapter: its schemas are not this warehouse's."""
    try:
        adapter = json.loads(manifest_path.read_text()).get("metadata", {}).get("adapter_type")
    except (FileNotFoundError, ValueError):
        return  # the sync loader reports a missing manifest
    if adapter and adapter != target.type:
        raise WarehouseTargetError(
            f"{manifest_path} was built for {adapter}, but the active dbt target is {target.label}: "
            f"run `dbt parse` (or `dbt build`) with FERRY_DBT_TARGET={target.name} first"
        )
