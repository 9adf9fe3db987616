"""Policies applied in SQL before anything leaves: one reason per suppressed record.

Why in SQL: the policy tables are warehouse marts, and judging in the plan query
means a suppressed person never even reaches Python. Each record gets at most
one reason, in this order (first match wins, so counts add up):

1. `holdout`       audience `variant` = 'holdout' (control group, never synced)
2. `test_mode`     test mode is on and the key is not on the seed list
3. `suppressed_<reason>`  customer_suppressions for this channel or all
                   channels; erasure applies to every channel, even `none`
4. `no_consent`    no consent row saying yes for this channel (customer_consent)
5. `pressure_cap`  marketing_pressure >= the sync's cap

The marts live in `SyncConfig.marts_schema`, read from the dbt manifest (`marts`
on production targets, `<target schema>_marts` on a developer's).

Fail closed: a channel that needs a policy table that does not exist raises
PolicyTableMissing instead of syncing unfiltered.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from syncs.config import SyncConfig
from syncs.warehouse import Warehouse

CONSENT = "customer_consent"
SUPPRESSIONS = "customer_suppressions"
PRESSURE = "marketing_pressure"
# Erasure tombstones, in the marts schema: held records are deleted at every destination.
ERASED = "erased_profiles"
GLOBAL_CHANNELS = ("all", "any", "*", "global")
# Warehouses that judge consent by membership tests rather than an aggregate (see
# _consent_check).
MEMBERSHIP_TESTS = ("duckdb",)


class PolicyTableMissing(RuntimeError):
    """A policy the sync needs cannot be checked: refuse to sync rather than guess."""


def lit(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="duckdb")


@dataclass(frozen=True)
class PolicySql:
    ctes: list[str]  # extra `name as (...)` CTEs
    joins: str  # left joins onto alias `h`
    reason: str  # CASE expression yielding the reason or NULL


def _channel_match(column: str, channel: str) -> str:
    chans = ", ".join(lit(c) for c in (channel, *GLOBAL_CHANNELS))
    return f"({column} is null or lower({column}) in ({chans}))"


def build_policy_sql(
    sync: SyncConfig, wh: Warehouse, has_variant: bool, profiles: str | None = None
) -> PolicySql:
    """The CTEs, joins and CASE that judge each audience row (alias `h`).

    `profiles`: a subquery of the only profile ids that will be judged (a plan of a
    few records, e.g. a dry run's sample). Each policy CTE then aggregates just their
    rows instead of the whole mart (at 10M members the consent aggregate alone took
    seconds, and DuckDB does not push the join's keys through the GROUP BY). A
    profile's verdict depends only on its own rows, so it is unchanged.
    """
    only = f" and cast(profile_id as varchar) in ({profiles})" if profiles else ""
    p = sync.policies
    ctes: list[str] = []
    joins: list[str] = []
    whens: list[str] = []
    judged = (
        sync.mode != "delete"
    )  # erasure requests must go out whatever the marketing policies say

    if judged and p.respect_holdout:
        if not has_variant:
            raise PolicyTableMissing(
                f"sync {sync.name}: audience {sync.relation} has no `variant` column, so the "
                "holdout policy cannot be applied (set policies.respect_holdout: false if intended)"
            )
        whens.append("when h.__variant = 'holdout' then 'holdout'")
    if p.test_mode:
        seeds = ", ".join(lit(s) for s in p.test_seeds) or "null"
        whens.append(f"when h.__key not in ({seeds}) or h.__key is null then 'test_mode'")
    if not judged:
        return PolicySql(ctes, "", _case(whens))

    channel = sync.channel
    schema = sync.marts_schema
    has_sup = wh.table_exists(schema, SUPPRESSIONS)
    if channel != "none" and not has_sup:
        raise PolicyTableMissing(
            f"sync {sync.name}: channel {channel!r} needs {schema}.{SUPPRESSIONS} "
            "(global suppressions); it does not exist, refusing to sync"
        )
    if has_sup:
        cond = (
            "lower(reason) = 'erasure'"
            if channel == "none"
            else (f"(lower(reason) = 'erasure' or {_channel_match('channel', channel)})")
        )
        ctes.append(
            "pol_sup as (select cast(profile_id as varchar) as profile_id, "
            "case when bool_or(lower(reason) = 'erasure') then 'erasure' else min(lower(reason)) end as reason "
            f"from {schema}.{SUPPRESSIONS} where {cond}{only} group by 1)"
        )
        joins.append("left join pol_sup on pol_sup.profile_id = h.__profile")
        whens.append("when pol_sup.reason is not null then 'suppressed_' || pol_sup.reason")
    if channel != "none":
        if not wh.table_exists(schema, CONSENT):
            raise PolicyTableMissing(
                f"sync {sync.name}: channel {channel!r} needs {schema}.{CONSENT} "
                "(consent per channel); it does not exist, refusing to sync"
            )
        whens.append(_consent_check(wh, ctes, joins, f"{schema}.{CONSENT}", channel, only))
    if p.pressure_cap is not None:
        if not wh.table_exists(schema, PRESSURE):
            raise PolicyTableMissing(
                f"sync {sync.name}: policies.pressure_cap needs {schema}.{PRESSURE}; "
                "it does not exist, refusing to sync"
            )
        match = _channel_match("channel", channel) if channel != "none" else "true"
        ctes.append(
            "pol_prs as (select cast(profile_id as varchar) as profile_id, max(pressure) as pressure "
            f"from {schema}.{PRESSURE} where {match}{only} group by 1)"
        )
        joins.append("left join pol_prs on pol_prs.profile_id = h.__profile")
        whens.append(f"when pol_prs.pressure >= {float(p.pressure_cap)!r} then 'pressure_cap'")
    return PolicySql(ctes, "\n".join(joins), _case(whens))


def _consent_check(
    wh: Warehouse, ctes: list[str], joins: list[str], table: str, channel: str, only: str
) -> str:
    """The `when` of `no_consent`: no row for this channel says yes, or any row says no
    (or nothing: fail closed). Adds the CTEs and joins it needs.

    DuckDB: two membership tests (mark joins) on the consent rows, one for any row, one
    for the rows that do not say yes; the other warehouses: a per-profile aggregate
    (bool_and) joined on. The same verdict (tests/syncs/test_policies.py checks both on
    DuckDB); why two forms: at 10M members the aggregate cost DuckDB more than the join
    itself (2.7 s of 14 s of CPU), while PostgreSQL hashes an IN subquery in a select
    list only if it fits work_mem, and otherwise rescans it per row.
    """
    rows = f"select cast(profile_id as varchar) from {table} where lower(channel) = {lit(channel)}{only}"
    if wh.dialect in MEMBERSHIP_TESTS:
        return (
            f"when not coalesce(h.__profile in ({rows} and profile_id is not null), false) "
            f"or coalesce(h.__profile in ({rows} and not coalesce(is_consented, false)), false) "
            "then 'no_consent'"
        )
    # bool_and: any row saying no for this channel means no (fail closed).
    ctes.append(
        "pol_con as (select cast(profile_id as varchar) as profile_id, "
        "bool_and(coalesce(is_consented, false)) as ok "
        f"from {table} where lower(channel) = {lit(channel)}{only} group by 1)"
    )
    joins.append("left join pol_con on pol_con.profile_id = h.__profile")
    return "when pol_con.ok is null or not pol_con.ok then 'no_consent'"


def _case(whens: list[str]) -> str:
    if not whens:
        return "cast(null as varchar)"
    return "case " + " ".join(whens) + " end"
