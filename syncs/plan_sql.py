"""The plan query: one SQL statement per sync that diffs the audience against state.

Why one query in the warehouse: the payload hash (md5 of a canonical
concatenation of the mapped columns) is computed where the data lives and
anti-joined against the hash last accepted, so only changed rows ever leave
the warehouse. Written in DuckDB's dialect with identifiers quoted by sqlglot,
then transpiled by `syncs.warehouse` to the warehouse's dialect.

Columns of `changes()` (the rows with work; `planned` has the first ones, what the
counts need, outside send mode):
  __key, __profile, __hash, __reason (policy), __op, __attempts, __idem and
  __occ (send mode), __in_status (a record_status row exists: the commit
  only touches record_status when one does), __ids (identifiers JSON: current
  for adds/updates/sends, as kept in state for removals), __state_hash (what
  state holds now), __dest_id, __state_ids, and one `p__<field>` per
  destination field.
`__op` is one of add, update, remove, send, delete, erase (work to do), unchanged,
suppressed, parked (failed max_attempts times with this very payload) and
in_doubt (send mode: awaiting reconciliation).

`erase`: a person this sync holds at the destination (its state) has been erased
(`marts.erased_profiles`): whatever the sync's mode, the destination is asked to
delete them (or, where it cannot delete a person, to remove them), and the
state row goes once it accepted. `__state_ids` is the identifiers state holds, so
an update that changed an identifier can take the old one out too.

Cost (10M members, 1% changed; benchmarks/sync_plan.py --sizes): the audience and
state are each read once, in one full join on the key whose build side holds only the
key, a 64-bit fingerprint of the hash and two flags; each joined row is one row of
`planned`, so nothing is materialized per member. A row whose `__op` takes a record out
(remove, erase) and whose `__reason` is set is a member still in the audience, held back
for that reason: counted as suppressed as well. `planned` has what counts need; `changes()` completes only the
rows with work (identifiers JSON, what state holds for them). A consequence of one read:
an audience key listed twice is judged row by row, so a held key listed once eligible and
once held back is removed (and listed again next run); when one of those rows has work
too, the plan counts the key as a duplicate and a run stops (`PlanSql.counts`). Audience
keys are unique by contract (the dbt primary-key test, the pipeline's
`no_duplicate_keys` gate).
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


_WORK = ", ".join(lit(o) for o in WORK_OPS)


@dataclass(frozen=True)
class PlanSql:
    """The plan query in parts: `base` (a `with ...` chain ending in `planned`, one row per
    record and verdict, whose columns are `columns` besides `__op` and `__reason`) and
    `detail` (what completes `changed`, the rows of `planned` with work to do, with what
    only they need, e.g. the identifiers state holds and the payload)."""

    base: str  # `with ... ` chain ending in relation `planned`
    params: list[str]
    columns: tuple[str, ...]  # of `planned`, but __op, __reason and __stale
    detail: str = "\nselect * from changed"  # follows the CTE `changed`
    # An UPDATE of sync_state: payload_fp where the md5 vouches for what state holds (see
    # `payload_fingerprint`); run when the plan counted `__stale` rows. "" where none can be.
    refresh: str = ""

    def counts(self, sample_keys: int = 0) -> tuple[str, list[str]]:
        """Rows per (__op, __reason): n, and k, the distinct keys among rows with work; then
        a last row (op and reason null) with the distinct keys with work across every
        operation, so a key planned twice in different groups (a duplicated audience key,
        held, eligible once and suppressed once: an update and a removal) counts as a
        duplicate too.

        Why two levels: the inner aggregate keeps one row per group, plus one per key with
        work (about the change, not the audience), and both outer aggregates read that
        small relation (GROUPING SETS made DuckDB materialize all of `planned` instead).

        `sample_keys` (DuckDB only): each group also returns its `sample_keys` smallest
        keys with work (`s`), so a dry run's sample plans just those records with
        `build_plan_sql(only_keys=...)` instead of evaluating the plan a second time
        (the plan of a record depends on that record alone).
        """
        sample = f", min(__wk, {int(sample_keys)}) as s" if sample_keys else ""
        return (
            (
                f"{self.base},\ncounted as (select __op, __reason, "
                f"case when __op in ({_WORK}) then __key end as __wk, count(*) as n "
                "from planned group by __op, __reason, case when __op in "
                f"({_WORK}) then __key end)\n"
                f"select __op, __reason, cast(sum(n) as bigint) as n, count(__wk) as k{sample} "
                "from counted group by __op, __reason union all "
                "select null, null, null, count(distinct __wk)"
                f"{', null' if sample_keys else ''} from counted"
            ),
            self.params,
        )

    def counts_and_sample_keys(self, limit: int) -> tuple[str, list[str]]:
        """DuckDB only: `counts()` plus, per group, the `limit` smallest keys with work to do."""
        return self.counts(sample_keys=limit)

    def changes(self) -> tuple[str, list[str]]:
        """The rows with work to do, every column a run needs."""
        changed = f"changed as (select * from planned where __op in ({_WORK}))"
        return f"{self.base},\n{changed}{self.detail}", self.params

    def grouped(self) -> tuple[str, list[str]]:
        """`planned` evaluated once for a run, to be materialized (`syncs.plan_table`): one
        row per (__op, __reason) of the rows without work, its other columns NULL, and one
        per distinct row with work; `__n` the rows of `planned` each stands for.

        Why: the counts (`counts_from`) and the rows a run sends (`changes_from`) both read
        this small relation, so a run diffs the audience against state once, where it
        used to count with one query and materialize the changes with another (the whole
        diff twice). It groups like `counts()` (a group per key with work), its rows with
        work distinct as `changes()` keeps them.
        """
        work = f"__op in ({_WORK})"
        cols = ", ".join(f"case when {work} then {c} end as {c}" for c in self.columns)
        by = ", ".join(str(i) for i in range(1, len(self.columns) + 4))
        return (
            f"{self.base}\nselect __op, __reason, {cols}, "
            f"case when {work} then false else __stale end as __stale, "
            f"count(*) as __n from planned group by {by}",
            self.params,
        )

    def changes_from(self, grouped: str) -> tuple[str, list[str]]:
        """`changes()`, its rows with work read from the materialized `grouped()` table."""
        return f"with {self._changed(grouped)}{self.detail}", self.params

    def work_rows(self) -> tuple[str, list[str]]:
        """The rows and columns of `changes_from`, straight from `planned` (no aggregate in
        between): for a plan that counts its rows without work from `judged` alone
        (`first_counts_from`), i.e. a sync that holds nothing at the destination yet."""
        return f"{self.base},\n{self._changed('planned')}{self.detail}", self.params

    def _changed(self, source: str) -> str:
        cols = ", ".join(("__op", "__reason", *self.columns))
        return f"changed as (select {cols} from {source} where __op in ({_WORK}))"

    def first_counts_from(self, table: str) -> tuple[str, list[str]]:
        """`counts_from` for a plan of a sync that holds nothing at the destination (no
        state, no record status, no write-ahead: `syncs.plan_table.holds_nothing`), whose
        rows with work are already in `table` (`work_rows`).

        Why this is the same count: with nothing held, each audience row is one row of
        `planned` (no removal, no update, nothing parked), which has work exactly when
        `judged` gave it no reason, and is otherwise suppressed for that reason. So the
        rows without work are counted from `judged` (the policies, ~0.2 s of CPU at 1M
        members), with no join, md5 or aggregate of the rows with work: a first sync's
        diff used to group every one of its rows by all 17 columns (~0.6 s) and then copy
        them into the plan table (~0.5 s). Not for send mode (the ledger decides)."""
        return (
            f"{self.base}\nselect __op, __reason, count(*) as n, count(__key) as k from {table} "
            "group by __op, __reason union all "
            "select 'suppressed', __reason, count(*), 0 from judged where __reason is not null "
            f"group by __reason union all select null, null, null, count(distinct __key) from {table}",
            self.params,
        )

    @staticmethod
    def stale_from(grouped: str) -> str:
        """How many rows of the materialized `grouped()` table call for `refresh`."""
        return f"select coalesce(sum(__n), 0) from {grouped} where __stale"

    @staticmethod
    def counts_from(grouped: str) -> str:
        """`counts()` read from the materialized `grouped()` table: the same rows."""
        return (
            "select __op, __reason, cast(sum(__n) as bigint) as n, count(__key) as k "
            f"from {grouped} group by __op, __reason union all "
            f"select null, null, null, count(distinct __key) from {grouped}"
        )

    def sample(self, limit: int) -> tuple[str, list[str]]:
        sql, params = self.changes()
        return f"{sql} order by __key limit {int(limit)}", params


def _empty_state_ctes() -> list[str]:
    """Stand-ins used when ferry_sync does not exist yet (a dry run creates nothing)."""
    return [
        (
            "st as (select cast(null as varchar) as record_key, cast(null as varchar) as __fp, "
            "cast(null as bigint) as __pfp, false as __pending, false as __erased where 1 = 0)"
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


def _mine(sync_name: str, destination_key: str) -> str:
    """Rows of one sync at one destination (rows from before destination identity count as
    today's destination until a run adopts them: see state.adopt_legacy_rows).

    Literals, not parameters: the plan reads state in more than one place (the diff, then
    the rows with work), and each place then stands alone."""
    return (
        f"sync_name = {lit(sync_name)} and "
        f"(destination_key = {lit(destination_key)} or destination_key is null)"
    )


# What the diff needs of each held record, and what only the rows with work need (read
# for those keys alone, after the diff: see `_held`).
_DIFF_COLUMNS = ("payload_hash", "profile_id", "payload_fp")
_DETAIL_COLUMNS = ("payload_hash", "identifiers_json", "destination_id")


def _held(
    mine: str,
    pending: tuple[str, ...],
    only: str,
    columns: tuple[str, ...],
    stored: dict[str, str] | None = None,
) -> str:
    """A SELECT of what the sync holds at the destination: `record_key` and `columns` of
    its sync_state rows (`mine`: see `_mine`), plus the write-ahead of killed runs.

    Why `pending`: a run writes the adds it is about to send to its own pending table
    (see syncs.runner.Runner.write_ahead) instead of marking them in sync_state, and drops
    it when every batch it sent is committed. A table left behind by a killed run names
    adds that may have reached the destination; until the next run folds them into
    sync_state, they count as held with the PENDING_ADD marker (re-planned as add, or
    as remove when the member left) and the identifiers the run wrote ahead.

    `stored`: expressions standing in for columns the state table lacks (see `_state_cte`).
    """
    stored = stored or {}
    picked = ", ".join(("record_key", *(stored.get(c, c) for c in columns)))
    state = f"select {picked} from {st.STATE} where {mine}"
    if not pending:
        return state + only
    marked = (
        "select record_key, max(identifiers_json) as identifiers_json from ("
        + " union all ".join(f"select record_key, identifiers_json from {t}" for t in pending)
        + f") u where true{only} group by record_key"
    )
    stand_in = {
        "payload_hash": lit(PENDING_ADD),
        "identifiers_json": "m.identifiers_json",
        "payload_fp": "cast(null as bigint)",
    }
    marks = ", ".join(
        ["m.record_key", *(stand_in.get(c, "cast(null as varchar)") for c in columns)]
    )
    return (
        f"{state}{only} union all select {marks} from ({marked}) m "
        f"where m.record_key not in (select record_key from {st.STATE} where {mine})"
    )


def fingerprint(wh: Warehouse, hash_sql: str) -> str:
    """What the diff compares of a payload hash: on DuckDB a 64-bit hash of the md5 text
    (8 bytes in the join's hash table instead of a 32-character string: at 10M members
    the difference between fitting the plan's memory cap and spilling); elsewhere the
    text itself. Only ever compared within one query, so the hash function's value
    needs no stability across versions; a false "unchanged" needs two different md5s
    whose 64-bit hashes collide."""
    return f"hash({hash_sql})" if wh.dialect == "duckdb" else hash_sql


def payload_fingerprint(wh: Warehouse, columns: list[str]) -> str:
    """`__pfp`, the shortcut beside the md5 (see `syncs.state`, column `payload_fp`): on
    DuckDB its `hash()` of the typed payload values in field-name order, 63 bits so it
    fits a BIGINT on every warehouse; elsewhere NULL (the md5 decides alone).

    Why: the md5 of each member's canonical text (casts, concatenation, digest) was the
    largest single cost of the plan at 10M members (~2.3 s of CPU); `hash()` of the
    values costs ~0.3 s. A member whose stored `payload_fp` equals it is unchanged without
    an md5; any other member (changed, new, state written before the column existed or by
    another DuckDB version, whose `hash()` may differ) is judged by the md5 as before. So
    the md5 stays the one authority (stable across versions and warehouses: nobody is
    re-sent because DuckDB changed), and a false "unchanged" needs a 64-bit collision
    between a record's old and new values (as `fingerprint` already accepts)."""
    if wh.dialect != "duckdb" or not columns:
        return "cast(null as bigint)"
    return f"cast(hash({', '.join(columns)}) >> 1 as bigint)"


def _state_cte(
    fp: str,
    mine: str,
    pending: tuple[str, ...],
    only: str = "",
    erased: str | None = None,
    has_pfp: bool = True,
) -> str:
    """`st`: each held record's key, the fingerprint of the hash last accepted (`fp`, an
    expression of `payload_hash`: see `fingerprint`), the payload fingerprint stored with
    it (`__pfp`, see `payload_fingerprint`), `__pending` and `__erased`, nothing more.

    Why so few columns: at 10M members this relation is the build side of the diff's
    hash join, and its identifiers JSON doubled it (spilled under the plan's memory cap);
    the rows with work read those columns afterwards, for their keys only.

    `__pfp` only where `payload_hash` holds a real hash: a write-ahead marker written over
    it (PENDING_REMOVE) must re-plan the member, whatever `payload_fp` still says.
    `has_pfp`: false for a ferry_sync written before `payload_fp` existed that no run has
    upgraded yet (a dry run adds no column): NULL stands in.

    `erased`: the relation of erased profiles; a held record whose profile (or key,
    for state written before profile ids were kept) is in it gets `__erased`.
    """
    stored = {} if has_pfp else {"payload_fp": "cast(null as bigint) as payload_fp"}
    held = f"st_all as ({_held(mine, pending, only, _DIFF_COLUMNS, stored)})"
    keep = (
        f"{fp} as __fp, case when payload_hash <> {lit(PENDING_REMOVE)} then payload_fp end as __pfp, "
        f"payload_hash = {lit(PENDING_ADD)} as __pending"
    )
    if erased is None:
        return held + f",\nst as (select record_key, {keep}, false as __erased from st_all)"
    return (
        held
        + f",\nerased as (select distinct cast(profile_id as varchar) as profile_id from {erased})"
        + f",\nst as (select s.record_key, {keep}, er.profile_id is not null as __erased "
        "from st_all s left join erased er on er.profile_id = coalesce(s.profile_id, s.record_key))"
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
    mine = _mine(sync.name, destination_key)
    send = sync.mode == "send"
    pfp = payload_fingerprint(wh, [field_alias(f) for f in fields])

    ctes = [
        (
            f"src as (select cast({q(sync.key)} as varchar) as __key, cast(profile_id as varchar) as __profile, "
            f"{variant} as __variant, {occ} as __occ, {select_fields} from {relation} "
            f"where true{_keys_filter(f'cast({q(sync.key)} as varchar)', only_keys)})"
        ),
        (
            # Send mode carries the identifiers JSON from here; the other modes write it in
            # `changes()`, for the rows with work only (a JSON object per member otherwise).
            f"hashed as (select src.*, md5(concat_ws(chr(31), {canon})) as __hash, "
            f"{idem} as __idem, {ids_json} as __ids from src)"
            if send
            # The other modes hash the payload after the diff, only where state cannot
            # vouch for it (see `payload_fingerprint`): here its fingerprint alone.
            else f"hashed as (select src.*, {pfp} as __pfp, {idem} as __idem from src)"
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
    only = _keys_filter("record_key", only_keys)
    if state_ready:
        erased = (
            erased_relation(wh, sync.marts_schema) if sync.mode not in ("send", "delete") else None
        )
        ctes += [
            _state_cte(
                fingerprint(wh, "payload_hash"),
                mine,
                pending,
                only,
                erased,
                has_pfp="payload_fp" in {c.lower() for c in wh.columns(st.SCHEMA, "sync_state")},
            ),
            f"stt as (select record_key, payload_hash, attempts, parked from {st.STATUS} where {mine}{only})",
            f"led as (select idempotency_key, status, attempts from {st.LEDGER} where {mine})",
        ]
    else:
        ctes += _empty_state_ctes()

    field_cols = ", ".join(f"j.{field_alias(f)}" for f in fields)
    if send:
        ctes.append(
            "planned as (select j.__key, j.__profile, j.__hash, j.__reason, j.__occ, j.__idem, j.__variant, "
            "case when j.__reason is not null then 'suppressed' "
            "when l.idempotency_key is null or l.status in ('retry', 'rejected') then 'send' "
            "when l.status in ('intent', 'in_doubt') then 'in_doubt' "
            "when l.status = 'parked' then 'parked' "
            "when l.status = 'suppressed' then 'suppressed_by_destination' "
            "else 'unchanged' end as __op, "
            "coalesce(l.attempts, 0) as __attempts, j.__ids, cast(null as varchar) as __state_hash, "
            "cast(null as bigint) as __pfp, "
            "cast(null as varchar) as __dest_id, cast(null as varchar) as __state_ids, "
            f"false as __in_status, false as __stale, {field_cols} "
            "from judged j left join led l on l.idempotency_key = j.__idem)"
        )
        send_columns = (
            *("__key", "__profile", "__hash", "__occ", "__idem", "__variant", "__attempts"),
            *("__ids", "__state_hash", "__pfp", "__dest_id", "__state_ids", "__in_status"),
            *(field_alias(f) for f in fields),
        )
        return PlanSql("with " + ",\n".join(ctes), [], send_columns)

    if sync.mode == "delete":
        when_known = "'unchanged'"  # an accepted erasure is final
        present_op = "'delete'"
    elif sync.mode == "insert":
        when_known = "'unchanged'"  # insert never updates what it added
        present_op = "'add'"
    else:
        when_known = (
            "case when j.__state_pfp = j.__pfp then 'unchanged' "
            f"when j.__state_fp = {fingerprint(wh, 'j.__hash')} then 'unchanged' else 'update' end"
        )
        present_op = "'add'"
    # Held records that leave the destination: an erased person (every mode but delete,
    # whatever the audience says), and in mirror mode what is no longer eligible.
    leave_when = []
    if sync.mode != "delete":
        leave_when.append("j.__erased")
    if sync.mode == "mirror":
        leave_when.append("(not j.__erased and (j.__present is null or j.__reason is not null))")
    ctes.append(
        # One join of the audience with state, both read once: a member and what is held for
        # them meet in one row (a held record alone: its audience side is null).
        "joined as (select j.*, s.record_key as __held, s.__fp as __state_fp, "
        "s.__pfp as __state_pfp, s.__pending, coalesce(s.__erased, false) as __erased "
        "from (select judged.*, true as __present from judged) j "
        f"{'full' if leave_when else 'left'} join st s on s.record_key = j.__key)"
    )
    # The md5 of the payload only where something needs it: an eligible member that is new
    # to the destination (its state will hold it), or whose stored fingerprint does not
    # vouch for it (an update, or state from before `payload_fp`). DuckDB evaluates a CASE
    # branch for its rows alone, so the other ~99% of a large audience cost no md5.
    unvouched = (
        " or not coalesce(j.__state_pfp = j.__pfp, false)"
        if sync.mode in ("upsert", "mirror")
        else ""
    )
    ctes.append(
        f"rehashed as (select j.*, case when j.__present and j.__reason is null and not j.__erased "
        f"and (j.__held is null or j.__pending{unvouched}) "
        f"then md5(concat_ws(chr(31), {canon})) end as __hash from joined j)"
    )
    present = (
        "case when j.__reason is not null or j.__erased then 'suppressed' "
        f"when j.__held is null or j.__pending then {present_op} "
        f"else {when_known} end"
    )
    # A held member the md5 judged because its stored fingerprint did not vouch for it (state
    # from before payload_fp, or a DuckDB whose hash() differs): a run refreshes payload_fp
    # of those the md5 found unchanged (`PlanSql.refresh`), so the next plan skips them.
    stale = (
        "coalesce(j.__pfp is not null and j.__hash is not null and j.__held is not null "
        "and not j.__pending, false)"
    )
    # The payload rides along (it is read for the md5 already): a run's rows with work come
    # out of its one diff complete, with no second read of the audience for their keys.
    payload_cols = "".join(f", j.{field_alias(f)}" for f in fields)
    audience_side = (
        "j.__key, j.__profile, j.__hash, j.__pfp, "
        "coalesce(j.__reason, case when j.__erased then 'suppressed_erasure' end) as __reason, "
        f"j.__occ, j.__idem, {present} as __op0, {stale} as __stale{payload_cols}"
    )
    if not leave_when:
        ctes.append(f"classified as (select {audience_side} from rehashed j)")
    else:
        # One row per joined row: a held record that leaves is planned as remove/erase, and
        # when its member is still in the audience (held back: a policy, erasure) the same
        # row carries that reason (counted as suppressed too: plan._summarise). Neither a
        # second read of the join nor a second row: at 10M members DuckDB materialized
        # the whole join for either (it spilled).
        leaves = f"j.__held is not null and ({' or '.join(leave_when)})"

        def side(leaving: str, staying: str) -> str:
            return f"case when {leaves} then {leaving} else {staying} end"

        leaving_op = "case when j.__erased then 'erase' else 'remove' end"
        ctes.append(
            "classified as (select "
            f"{side('j.__held', 'j.__key')} as __key, {side('null', 'j.__profile')} as __profile, "
            f"{side(lit(REMOVE_MARK), 'j.__hash')} as __hash, {side('null', 'j.__pfp')} as __pfp, "
            "case when j.__present then coalesce(j.__reason, case when j.__erased then "
            f"{lit('suppressed_erasure')} end) end as __reason, "
            f"{side(lit(''), 'j.__occ')} as __occ, {side('null', 'j.__idem')} as __idem, "
            f"{side(leaving_op, present)} as __op0, {side('false', stale)} as __stale"
            + "".join(
                f", {side('null', f'j.{field_alias(f)}')} as {field_alias(f)}" for f in fields
            )
            + " "
            f"from rehashed j where j.__present or ({leaves}))"
        )
    ctes.append(
        # (Not an IN list: DuckDB turned that one into a join over every member.)
        "planned as (select c.*, case when t.parked and t.payload_hash = c.__hash "
        "and c.__op0 <> 'unchanged' and c.__op0 <> 'suppressed' then 'parked' else c.__op0 end as __op, "
        "case when t.payload_hash = c.__hash then t.attempts else 0 end as __attempts, "
        "t.record_key is not null as __in_status "
        "from classified c left join stt t on t.record_key = c.__key)"
    )
    # The rows with work, completed with what state holds for them (the identifiers a
    # removal names the person by, the destination's id), read for their keys alone.
    # Joined on, never a semi-join on the changed keys: that reads `changed` twice, and
    # DuckDB materializes it; the join builds on the rows with work, the smaller side.
    detail = (
        _held(mine, pending, "", _DETAIL_COLUMNS)
        if state_ready
        else "select "
        + ", ".join(f"cast(null as varchar) as {c}" for c in ("record_key", *_DETAIL_COLUMNS))
        + " where 1 = 0"
    )
    leaving = ", ".join(lit(o) for o in LEAVING_OPS)
    tail = (
        "\nselect c.*, "
        f"case when c.__op in ({leaving}) then h.identifiers_json else {ids_json} end as __ids, "
        "h.payload_hash as __state_hash, h.destination_id as __dest_id, h.identifiers_json as __state_ids "
        f"from changed c left join ({detail}) h on h.record_key = c.__key"
    )
    columns = (
        *("__key", "__profile", "__hash", "__pfp", "__occ", "__idem", "__op0"),
        *(field_alias(f) for f in fields),
    )
    refresh = ""
    if wh.dialect == "duckdb" and state_ready and sync.mode in ("upsert", "mirror"):
        audience = (
            f"select cast({q(sync.key)} as varchar) as __key, {select_fields} from {relation}"
        )
        refresh = (
            f"update {st.STATE} set payload_fp = a.__pfp from (select __key, {pfp} as __pfp, "
            f"md5(concat_ws(chr(31), {canon})) as __hash from ({audience}) s) a "
            f"where {st.STATE}.record_key = a.__key and {st.STATE}.payload_hash = a.__hash "
            f"and {mine} and ({st.STATE}.payload_fp is null or {st.STATE}.payload_fp <> a.__pfp)"
        )
    return PlanSql(
        "with " + ",\n".join(ctes),
        [],
        (*columns, "__attempts", "__in_status"),
        tail,
        refresh,
    )
