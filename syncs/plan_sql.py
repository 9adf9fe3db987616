"""The plan query: one SQL statement per sync that diffs the audience against state.

Why one query in the warehouse: the payload hash (md5 of a canonical
concatenation of the mapped columns) is computed where the data lives and
anti-joined against the hash last accepted, so only changed rows ever leave
the warehouse. Written in DuckDB's dialect with identifiers quoted by sqlglot,
then transpiled by `syncs.warehouse` to the warehouse's dialect.

Columns of the `planned` relation:
  __key, __profile, __hash, __reason (policy), __op, __attempts, __ids
  (identifiers JSON: current for adds/updates/sends, as kept in state for
  removals), __state_hash (what state holds now), __dest_id, __idem and
  __occ (send mode), __in_status (a record_status row exists: the commit
  only touches record_status when one does), and one `p__<field>` per
  destination field.
`__op` is one of add, update, remove, send, delete, erase (work to do), unchanged,
suppressed, parked (failed max_attempts times with this very payload) and
in_doubt (send mode: awaiting reconciliation).

`erase`: a person this sync holds at the destination (its state) has been erased
(`marts.erased_profiles`): whatever the sync's mode, the destination is asked to
delete them (or, where it cannot delete a person, to remove them), and the
state row goes once it accepted. `__state_ids` is the identifiers state holds, so
an update that changed an identifier can take the old one out too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from syncs import state as st
from syncs.config import SyncConfig
from syncs.policies import ERASED, build_policy_sql, lit
from syncs.warehouse import Warehouse

WORK_OPS = ("add", "update", "remove", "send", "delete", "erase")
# Operations that take a record out of the destination: no state is kept once accepted.
LEAVING_OPS = ("remove", "erase")
REMOVE_MARK = "__remove__"  # hash recorded for a failing removal
# Write-ahead markers in sync_state (see syncs.runner.Runner.write_ahead): an add that may
# have reached the destination, and a removal that may have. Neither equals a real hash,
# so a pending add re-plans as an add (or a removal if the member left), and a pending
# removal re-plans as a removal (or an update that re-adds if the member came back).
PENDING_ADD = "__pending_add__"
PENDING_REMOVE = "__pending_remove__"


def q(name: str) -> str:
    """A quoted identifier (audience columns can be any case or a keyword)."""
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def field_alias(field: str) -> str:
    return q(f"p__{field}")


@dataclass(frozen=True)
class PlanSql:
    base: str  # `with ... ` chain ending in relation `planned`
    params: list[str]

    def counts(self, distinct: bool = True) -> tuple[str, list[str]]:
        """Rows per (operation, reason), and `k` their distinct keys among rows to send
        (`distinct=False`: k = n, for a run, which checks its materialized plan instead)."""
        keys = (
            f"count(distinct case when __op in ({', '.join(lit(o) for o in WORK_OPS)}) then __key end)"
            if distinct
            else "count(*)"
        )
        return (
            # Distinct keys only among rows to send: a duplicate key that matters always
            # shows up there, and a distinct count over the whole audience costs memory.
            f"{self.base} select __op, __reason, count(*) as n, {keys} as k "
            "from planned group by __op, __reason",
            self.params,
        )

    def counts_and_sample_keys(self, limit: int) -> tuple[str, list[str]]:
        """DuckDB only: `counts()` plus, per group, the `limit` smallest keys with work to do.

        Why: a dry run's sample (the first keys in order) otherwise costs a second full
        evaluation of the plan; with the keys known, `build_plan_sql(only_keys=...)`
        plans just those records (the plan of a record depends on that record alone).
        """
        sql, params = self.counts()
        ops = ", ".join(lit(o) for o in WORK_OPS)
        head, tail = sql.split(" from planned group by ", 1)
        return (
            (
                f"{head}, min(case when __op in ({ops}) then __key end, {int(limit)}) as s "
                f"from planned group by {tail}"
            ),
            params,
        )

    def changes(self) -> tuple[str, list[str]]:
        ops = ", ".join(lit(o) for o in WORK_OPS)
        return f"{self.base} select * from planned where __op in ({ops})", self.params

    def sample(self, limit: int) -> tuple[str, list[str]]:
        ops = ", ".join(lit(o) for o in WORK_OPS)
        return (
            f"{self.base} select * from planned where __op in ({ops}) order by __key limit {int(limit)}",
            self.params,
        )


def _empty_state_ctes() -> list[str]:
    """Stand-ins used when ferry_sync does not exist yet (a dry run creates nothing)."""
    return [
        (
            "st as (select cast(null as varchar) as record_key, cast(null as varchar) as payload_hash, "
            "cast(null as varchar) as identifiers_json, cast(null as varchar) as destination_id, "
            "false as __erased where 1 = 0)"
        ),
        (
            "stt as (select cast(null as varchar) as record_key, cast(null as varchar) as payload_hash, "
            "cast(null as integer) as attempts, cast(null as boolean) as parked where 1 = 0)"
        ),
        (
            "led as (select cast(null as varchar) as idempotency_key, cast(null as varchar) as status, "
            "cast(null as integer) as attempts where 1 = 0)"
        ),
    ]


def _keys_filter(column: str, keys: tuple[str, ...] | None) -> str:
    """`and <column> in (...)` restricting a plan to some records (none: no restriction)."""
    if keys is None:
        return ""
    return f" and {column} in ({', '.join(lit(k) for k in keys) or 'null'})"


# Rows of one sync at one destination (rows from before destination identity count as
# today's destination until a run adopts them: see state.adopt_legacy_rows).
_MINE = "sync_name = ? and (destination_key = ? or destination_key is null)"


def _state_cte(pending: tuple[str, ...], only: str = "", erased: str | None = None) -> str:
    """What the sync holds at the destination: sync_state, plus the write-ahead of killed runs.

    Why `pending`: a run writes the adds it is about to send to its own pending table
    (see syncs.runner.Runner.write_ahead) instead of marking them in sync_state, and drops
    it when every batch it sent is committed. A table left behind by a killed run names
    adds that may have reached the destination; until the next run folds them into
    sync_state, they count as held with the PENDING_ADD marker (re-planned as add, or
    as remove when the member left).

    `erased`: the relation of erased profiles; a held record whose profile (or key,
    for state written before profile ids were kept) is in it gets `__erased`.
    """
    state = (
        "select record_key, payload_hash, identifiers_json, destination_id, profile_id "
        f"from {st.STATE} where {_MINE}" + only
    )
    if pending:
        marked = (
            "select record_key, max(identifiers_json) as identifiers_json from ("
            + " union all ".join(f"select record_key, identifiers_json from {t}" for t in pending)
            + f") u where true{only} group by record_key"
        )
        held = (
            f"st_held as ({state}),\n"
            f"st_all as (select * from st_held union all select m.record_key, {lit(PENDING_ADD)}, "
            "m.identifiers_json, cast(null as varchar), cast(null as varchar) from "
            f"({marked}) m where not exists (select 1 from st_held h where h.record_key = m.record_key))"
        )
    else:
        held = f"st_all as ({state})"
    if erased is None:
        return held + ",\nst as (select st_all.*, false as __erased from st_all)"
    return (
        held
        + f",\nerased as (select distinct cast(profile_id as varchar) as profile_id from {erased})"
        + ",\nst as (select s.*, er.profile_id is not null as __erased from st_all s "
        "left join erased er on er.profile_id = coalesce(s.profile_id, s.record_key))"
    )


def erased_relation(wh: Warehouse, marts_schema: str) -> str | None:
    """The erased-profiles mart, when the warehouse has one (see policies.ERASED)."""
    return f"{marts_schema}.{ERASED}" if wh.table_exists(marts_schema, ERASED) else None


def build_plan_sql(
    sync: SyncConfig,
    wh: Warehouse,
    state_ready: bool,
    pending: tuple[str, ...] = (),
    only_keys: tuple[str, ...] | None = None,
    *,
    destination_key: str,
) -> PlanSql:
    """Generate the plan query for `sync` (raises PolicyTableMissing, ValueError).

    `destination_key`: the destination identity whose state the plan diffs against
    (a sync re-pointed elsewhere starts from empty state there).

    `pending`: write-ahead tables left by killed runs of this sync (see `_state_cte`).
    `only_keys`: plan just these records (a dry run's sample); each record's plan
    depends only on its own audience, state and policy rows, so it is the same as in
    the full plan.
    """
    columns = {c.lower() for c in wh.columns(sync.schema_name, sync.table)}
    if not columns:
        raise ValueError(
            f"sync {sync.name}: audience relation {sync.relation} does not exist (run dbt build)"
        )
    needed = {sync.key, "profile_id", *(c for c, _ in sync.payload_columns().values())}
    if sync.occurrence:
        needed.add(sync.occurrence)
    missing = sorted(c for c in needed if c.lower() not in columns)
    if missing:
        raise ValueError(f"sync {sync.name}: audience {sync.relation} lacks column(s) {missing}")
    has_variant = "variant" in columns
    # A plan of a few records judges only their profiles (see build_policy_sql).
    profiles = "select __profile from src" if only_keys is not None else None
    policy = build_policy_sql(sync, wh, has_variant, profiles)

    payload = sync.payload_columns()
    fields = sorted(payload)
    select_fields = ", ".join(f"{q(payload[f][0])} as {field_alias(f)}" for f in fields)
    # Canonical text: every field in name order, NULL spelled out, unit separator between.
    canon = ", ".join(f"coalesce(cast({field_alias(f)} as varchar), '\\N')" for f in fields)
    # Identifiers as JSON, built in the warehouse (sqlglot writes JSON_OBJECT / OBJECT_CONSTRUCT
    # per dialect): kept in state so a later removal can name the person after they left.
    ids_pairs = ", ".join(f"{lit(i)}, {field_alias(i)}" for i in sorted(sync.identifiers))
    # PostgreSQL < 16 has no SQL/JSON JSON_OBJECT; json_build_object passes through sqlglot as is.
    json_fn = "json_build_object" if wh.dialect == "postgres" else "json_object"
    ids_json = f"cast({json_fn}({ids_pairs}) as varchar)"
    if wh.dialect == "spark":
        # Spark has no JSON_OBJECT (sqlglot would write an invalid one): a named struct
        # serialised by to_json (null identifiers are left out of the object).
        ids_json = f"to_json(named_struct({ids_pairs}))"
    variant = "cast(variant as varchar)" if has_variant else "cast(null as varchar)"
    occ = f"coalesce(cast({q(sync.occurrence)} as varchar), '')" if sync.occurrence else "''"
    relation = f"{q(sync.schema_name)}.{q(sync.table)}"
    # The idempotency key of a message: send mode only (an md5 per member otherwise wasted).
    idem = (
        f"md5(concat_ws(chr(31), {lit(sync.name)}, __key, __occ))"
        if sync.mode == "send"
        else "cast(null as varchar)"
    )
    params: list[str] = []

    ctes = [
        (
            f"src as (select cast({q(sync.key)} as varchar) as __key, cast(profile_id as varchar) as __profile, "
            f"{variant} as __variant, {occ} as __occ, {select_fields} from {relation} "
            f"where true{_keys_filter(f'cast({q(sync.key)} as varchar)', only_keys)})"
        ),
        (
            f"hashed as (select src.*, md5(concat_ws(chr(31), {canon})) as __hash, "
            f"{idem} as __idem, {ids_json} as __ids from src)"
        ),
        *policy.ctes,
    ]
    # An erased person never gets anything new, whatever the mode, even if an audience
    # still lists them (marts filter erased profiles, but a hand-written audience may not).
    reason, joins = policy.reason, policy.joins
    erased_marts = erased_relation(wh, sync.marts_schema)
    if erased_marts:
        ctes.append(
            "erased_ids as (select distinct cast(profile_id as varchar) as profile_id "
            f"from {erased_marts} where true"
            + (f" and cast(profile_id as varchar) in ({profiles}))" if profiles else ")")
        )
        reason = f"case when er.profile_id is not null then 'suppressed_erasure' else {reason} end"
        joins = f"{joins} left join erased_ids er on er.profile_id = h.__profile"
    ctes.append(f"judged as (select h.*, {reason} as __reason from hashed h {joins})")
    if state_ready:
        erased = (
            erased_relation(wh, sync.marts_schema) if sync.mode not in ("send", "delete") else None
        )
        ctes += [
            _state_cte(pending, _keys_filter("record_key", only_keys), erased),
            (
                f"stt as (select record_key, payload_hash, attempts, parked from {st.STATUS} where {_MINE}"
                f"{_keys_filter('record_key', only_keys)})"
            ),
            f"led as (select idempotency_key, status, attempts from {st.LEDGER} where {_MINE})",
        ]
        params += [sync.name, destination_key] * 3
    else:
        ctes += _empty_state_ctes()

    field_cols = ", ".join(f"j.{field_alias(f)}" for f in fields)
    null_fields = ", ".join(f"null as {field_alias(f)}" for f in fields)
    if sync.mode == "send":
        ctes.append(
            "planned as (select j.__key, j.__profile, j.__hash, j.__reason, j.__occ, j.__idem, j.__variant, "
            "case when j.__reason is not null then 'suppressed' "
            "when l.idempotency_key is null or l.status in ('retry', 'rejected') then 'send' "
            "when l.status in ('intent', 'in_doubt') then 'in_doubt' "
            "when l.status = 'parked' then 'parked' "
            "when l.status = 'suppressed' then 'suppressed_by_destination' "
            "else 'unchanged' end as __op, "
            "coalesce(l.attempts, 0) as __attempts, j.__ids, cast(null as varchar) as __state_hash, "
            "cast(null as varchar) as __dest_id, cast(null as varchar) as __state_ids, "
            f"false as __in_status, {field_cols} "
            "from judged j left join led l on l.idempotency_key = j.__idem)"
        )
        return PlanSql("with " + ",\n".join(ctes), params)

    if sync.mode == "delete":
        when_known = "'unchanged'"  # an accepted erasure is final
        present_op = "'delete'"
    elif sync.mode == "insert":
        when_known = "'unchanged'"  # insert never updates what it added
        present_op = "'add'"
    else:
        when_known = "case when s.payload_hash = j.__hash then 'unchanged' else 'update' end"
        present_op = "'add'"
    def leaving(op: str, where: str) -> str:
        """A branch for held records that leave the destination (no audience row needed)."""
        return (
            " union all select s.record_key as __key, cast(null as varchar) as __profile, "
            f"{lit(REMOVE_MARK)} as __hash, cast(null as varchar) as __reason, '' as __occ, "
            f"cast(null as varchar) as __idem, {lit(op)} as __op0, s.identifiers_json as __ids, "
            "s.payload_hash as __state_hash, s.destination_id as __dest_id, "
            f"s.identifiers_json as __state_ids, {null_fields} from st s {where}"
        )

    classified = (
        "classified as (select j.__key, j.__profile, j.__hash, "
        "coalesce(j.__reason, case when s.__erased then 'suppressed_erasure' end) as __reason, "
        "j.__occ, j.__idem, "
        "case when j.__reason is not null or s.__erased then 'suppressed' "
        f"when s.record_key is null or s.payload_hash = {lit(PENDING_ADD)} then {present_op} "
        f"else {when_known} end as __op0, j.__ids, s.payload_hash as __state_hash, s.destination_id as __dest_id, "
        f"s.identifiers_json as __state_ids, {field_cols} from judged j left join st s on s.record_key = j.__key"
    )
    if sync.mode != "delete":
        # An erased person this sync holds is deleted at the destination whatever the mode.
        classified += leaving("erase", "where s.__erased")
    if sync.mode == "mirror":
        # Remove only what this sync added (what is in its state) and is no longer eligible.
        classified += leaving(
            "remove",
            # An equality anti-join (NOT EXISTS decorrelates to a null-safe one, slower).
            "left join (select __key from judged where __reason is null) e on e.__key = s.record_key "
            "where e.__key is null and not s.__erased",
        )
    ctes.append(classified + ")")
    ctes.append(
        "planned as (select c.*, case when c.__op0 in ('add', 'update', 'remove', 'delete', 'erase') "
        "and t.parked and t.payload_hash = c.__hash then 'parked' else c.__op0 end as __op, "
        "case when t.payload_hash = c.__hash then t.attempts else 0 end as __attempts, "
        "t.record_key is not null as __in_status "
        "from classified c left join stt t on t.record_key = c.__key)"
    )
    return PlanSql("with " + ",\n".join(ctes), params)
