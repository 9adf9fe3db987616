"""A small, fully built sample warehouse for tests (orchestration and browser).

Why in the package: the orchestration tests and the browser test both need
sample data built through dbt up to the audiences. Building it costs a dbt
build, so it is built once per test process (keyed by the dbt manifest and the
generator's code, so a change in either rebuilds) and copied for each user.
Everything runs through the real Dagster definitions (phase "warehouse").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

AS_OF = dt.date(2026, 11, 20)  # pinned so audience sizes do not drift with the calendar
PEOPLE = 150
SEED = 7


def _cache_key(people: int, seed: int) -> str:
    from orchestration.assets.dbt_project import ferry_dbt_project
    from orchestration.paths import PROJECT_ROOT

    digest = hashlib.sha256(f"{people}:{seed}:{AS_OF}".encode())
    digest.update(ferry_dbt_project().manifest_path.read_bytes())
    for path in sorted((PROJECT_ROOT / "sample_data").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_sample_warehouse(path: Path, *, people: int = PEOPLE, seed: int = SEED) -> dict:
    """Generate sample data into `path` and dbt-build everything but reporting, with checks.

    The Dagster instance of the build is kept beside the file (``dagster_home`` in
    the report): the browser test starts its webserver on a copy of it, as a
    marketer opens the UI after `make demo`, with the audiences' pages filled.
    """
    from dagster import DagsterInstance

    from orchestration.definitions import defs
    from orchestration.main_job import phase_keys, run_phase
    from sample_data import generate

    previous = os.environ.get("FERRY_DUCKDB_PATH")
    os.environ["FERRY_DUCKDB_PATH"] = str(
        path
    )  # dbt (profiles.yml) and the warehouse resource read it
    try:
        generate(people, seed, path, as_of=AS_OF)
        home = path.parent / f"{path.stem}-dagster"
        home.mkdir(parents=True, exist_ok=True)
        with DagsterInstance.local_temp(tempdir=str(home)) as instance:
            result = run_phase(
                defs, instance, "warehouse", phase_keys(defs)["warehouse"], dbt_tests=False
            )
    finally:
        if previous is None:
            os.environ.pop("FERRY_DUCKDB_PATH", None)
        else:
            os.environ["FERRY_DUCKDB_PATH"] = previous
    return {
        "success": result.success, "failures": result.failures, "checks": result.checks,
        "dagster_home": str(home),
    }


_BUILT: dict[str, tuple[Path, dict]] = {}


def sample_warehouse(target: Path, *, people: int = PEOPLE, seed: int = SEED) -> dict:
    """Copy a built sample warehouse to `target`, building it first if this process has not yet."""
    key = _cache_key(people, seed)
    if key not in _BUILT:
        cache = Path(tempfile.mkdtemp(prefix="ferry-sample-")) / f"sample-{key}.duckdb"
        info = build_sample_warehouse(cache, people=people, seed=seed)
        _BUILT[key] = (cache, info)
    cache, info = _BUILT[key]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache, target)
    return info


_GLOBAL_CHANNELS = "'all', 'any', '*', 'global'"


def expected_email_members(conn, audience, sync) -> set[str]:
    """Emails an email sync may deliver, computed from the marts independently of the engine.

    Members not in the holdout, with email consent, not suppressed for email
    (or globally), under the sync's pressure cap: the contract in ARCHITECTURE.md.
    """
    cap = sync.policies.pressure_cap
    pressure = (
        "and not exists (select 1 from marts.marketing_pressure p where p.profile_id = a.profile_id "
        f"and p.channel = 'email' and p.pressure >= {float(cap)})"
        if cap is not None
        else ""
    )
    column = sync.identifiers["email"]
    rows = conn.execute(
        f"""
        select distinct lower(trim(a.{column})) from {audience.relation} a
        where coalesce(a.variant, '') <> 'holdout' and a.{column} is not null
          and not exists (select 1 from marts.customer_suppressions s where s.profile_id = a.profile_id
                          and (s.channel is null or lower(s.channel) in ('email', {_GLOBAL_CHANNELS})))
          and exists (select 1 from marts.customer_consent c where c.profile_id = a.profile_id
                      and c.channel = 'email' and c.is_consented)
          {pressure}
        """
    ).fetchall()
    return {r[0] for r in rows}


def sendgrid_list_emails(sandbox, list_name: str) -> set[str]:
    """Emails a SendGrid sandbox holds in the list(s) called `list_name`."""
    state = sandbox.state
    ids = [lid for lid, lst in state.lists.items() if lst.get("name") == list_name]
    return set().union(*(state.list_emails(i) for i in ids)) if ids else set()


def list_name_of(sync) -> str:
    return sync.destination.resolved_options().get("list_name") or "ferry_marketing"


def eligible_members(conn, audience, sync) -> set[str]:
    """Audience keys a sync of any channel (email, sms, ads, none) may deliver, from the marts alone.

    The contract in ARCHITECTURE.md, written here independently of the engine's
    SQL: not in the holdout (when the sync respects it), no erasure, no
    suppression for the channel (or all channels), a consent row saying yes for
    the channel (every row: one "no" wins), under the pressure cap. Channel
    ``none`` (internal notifications) skips consent and keeps only erasure.
    """
    channel = audience.channel
    policies = sync.policies
    rules = [f"a.{audience.key} is not null"]
    if policies.respect_holdout:
        rules.append("coalesce(a.variant, '') <> 'holdout'")
    suppressed_for = "lower(s.reason) = 'erasure'"
    if channel != "none":
        suppressed_for += (
            f" or s.channel is null or lower(s.channel) in ('{channel}', {_GLOBAL_CHANNELS})"
        )
    rules.append(
        "not exists (select 1 from marts.customer_suppressions s "
        f"where s.profile_id = a.profile_id and ({suppressed_for}))"
    )
    if channel != "none":
        rules.append(
            "(select bool_and(coalesce(c.is_consented, false)) from marts.customer_consent c "
            f"where c.profile_id = a.profile_id and lower(c.channel) = '{channel}') is true"
        )
    if policies.pressure_cap is not None:
        scope = (
            "true"
            if channel == "none"
            else (f"(p.channel is null or lower(p.channel) in ('{channel}', {_GLOBAL_CHANNELS}))")
        )
        rules.append(
            "not exists (select 1 from marts.marketing_pressure p where p.profile_id = a.profile_id "
            f"and {scope} and p.pressure >= {float(policies.pressure_cap)})"
        )
    where = "\n  and ".join(rules)
    rows = conn.execute(
        f"select distinct cast(a.{audience.key} as varchar) from {audience.relation} a where {where}"
    )
    return {r[0] for r in rows.fetchall()}


def eligible_values(conn, audience, sync, identifier: str) -> dict[str, object]:
    """Eligible member key -> the raw value of one identifier column (nulls left out)."""
    keys = eligible_members(conn, audience, sync)
    column = sync.identifiers[identifier]
    rows = conn.execute(
        f"select cast({audience.key} as varchar), {column} from {audience.relation} where {column} is not null"
    ).fetchall()
    return {k: v for k, v in rows if k in keys}
