"""Read-side helpers over ferry_sync: last runs, parked records. For the CLI and Dagster.

Why separate from the engine: these are queries people and schedulers ask
("when did this sync last run?", "what is parked and why?"); they never write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syncs import state as st
from syncs.warehouse import Warehouse


def _wh(conn: Any) -> Warehouse:
    return conn if isinstance(conn, Warehouse) else Warehouse(conn)


def last_run_started(conn: Any, sync_name: str) -> datetime | None:
    """Start of the latest run of `sync_name` (None if it never ran or ferry_sync is absent)."""
    wh = _wh(conn)
    if not wh.table_exists(st.SCHEMA, "runs"):
        return None
    row = wh.fetchone(f"select max(started_at) from {st.RUNS} where sync_name = ?", (sync_name,))
    return row[0] if row else None


def recent_runs(conn: Any, sync_name: str, limit: int = 10) -> list[dict[str, Any]]:
    wh = _wh(conn)
    if not wh.table_exists(st.SCHEMA, "runs"):
        return []
    cur = wh.execute(
        f"select * from {st.RUNS} where sync_name = ? order by started_at desc limit {int(limit)}",
        (sync_name,),
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def parked(conn: Any, sync_name: str) -> list[dict[str, Any]]:
    """Records parked for review: failing records past max_attempts and unsettled sends."""
    wh = _wh(conn)
    out: list[dict[str, Any]] = []
    if wh.table_exists(st.SCHEMA, "record_status"):
        for key, op, attempts, error, updated in wh.fetchall(
            f"select record_key, operation, attempts, last_error, updated_at from {st.STATUS} "
            "where sync_name = ? and parked order by record_key",
            (sync_name,),
        ):
            out.append(
                {
                    "record_key": key,
                    "operation": op,
                    "attempts": attempts,
                    "error": error,
                    "since": updated,
                }
            )
    if wh.table_exists(st.SCHEMA, "send_ledger"):
        for key, status, attempts, error, updated in wh.fetchall(
            f"select record_key, status, attempts, error, updated_at from {st.LEDGER} "
            "where sync_name = ? and status in ('parked', 'in_doubt') order by record_key",
            (sync_name,),
        ):
            out.append(
                {
                    "record_key": key,
                    "operation": "send (in doubt)" if status == "in_doubt" else "send",
                    "attempts": attempts,
                    "error": error,
                    "since": updated,
                }
            )
    return out


def pending_erasures(conn: Any, marts_schema: str = "marts") -> list[dict[str, Any]]:
    """Erasures not yet confirmed, per sync and destination: people erased in the warehouse
    (marts.erased_profiles) whom a destination still holds according to sync state.

    An erasure is confirmed when the destination accepted the delete (the state row is
    then gone); until then each run plans it again (`erase`), and failures show here
    with their last error. Send syncs count each message of an erased person whose
    ledger row still holds personal data (see syncs.erasure).
    """
    from syncs.erasure import FAILED as ERASURE_FAILED
    from syncs.erasure import REFUSED as ERASURE_REFUSED
    from syncs.erasure import starts_with
    from syncs.policies import ERASED

    wh = _wh(conn)
    if not (wh.table_exists(st.SCHEMA, "sync_state") and wh.table_exists(marts_schema, ERASED)):
        return []
    held = (
        "select s.sync_name, s.destination_key, e.erased_at, f.last_error as last_error "
        f"from {st.STATE} s join {marts_schema}.{ERASED} e on e.profile_id = coalesce(s.profile_id, s.record_key) "
        f"left join {st.STATUS} f on f.sync_name = s.sync_name and f.record_key = s.record_key "
        "and f.destination_key = s.destination_key"
    )
    # Send syncs: messages and ledger rows still holding an erased person's data (syncs.erasure).
    sent = (
        "select l.sync_name, l.destination_key, e.erased_at, "
        f"case when {starts_with('l.error', ERASURE_FAILED)} "
        f"or {starts_with('l.error', ERASURE_REFUSED)} then l.error end as last_error "
        f"from {st.LEDGER} l join {marts_schema}.{ERASED} e "
        "on cast(e.profile_id as varchar) = coalesce(l.profile_id, l.record_key) "
        "where l.identifiers_json is not null or l.payload_json is not null"
    )
    rows = wh.fetchall(
        "select sync_name, destination_key, count(*), min(erased_at), max(last_error) "
        f"from ({held} union all {sent}) p group by 1, 2 order by 1, 2"
    )
    return [
        {
            "sync": name,
            "destination": key,
            "pending": int(n),
            "oldest_request": oldest,
            "last_error": error,
        }
        for name, key, n, oldest, error in rows
    ]


def unpark(conn: Any, sync_name: str, keys: list[str] | None = None) -> int:
    """Release parked records of `sync_name` (all, or `keys`) after a human reviewed them.

    Failing records get a fresh set of attempts on the next run. A parked send
    (in doubt, or rejected max_attempts times) becomes eligible to send again: do
    this only after checking at the destination that it was not delivered. A sent
    message whose delete the destination refused (syncs.erasure) is asked again by
    the next run; the send itself is untouched. Returns how many were released.
    """
    from syncs.erasure import REFUSED as ERASURE_REFUSED
    from syncs.erasure import starts_with

    wh = _wh(conn)
    released = 0
    key_filter = ""
    params: list[Any] = [sync_name]
    if keys:
        key_filter = f" and record_key in ({', '.join('?' for _ in keys)})"
        params += list(keys)
    with wh.transaction():
        if wh.table_exists(st.SCHEMA, "record_status"):
            row = wh.fetchone(
                f"select count(*) from {st.STATUS} where sync_name = ? and parked{key_filter}",
                params,
            )
            released += int(row[0]) if row else 0
            wh.execute(
                f"delete from {st.STATUS} where sync_name = ? and parked{key_filter}", params
            )
        if wh.table_exists(st.SCHEMA, "send_ledger"):
            row = wh.fetchone(
                f"select count(*) from {st.LEDGER} where sync_name = ? "
                f"and status in ('parked', 'in_doubt'){key_filter}",
                params,
            )
            released += int(row[0]) if row else 0
            wh.execute(
                f"update {st.LEDGER} set status = 'retry', attempts = 0, error = 'released from review' "
                f"where sync_name = ? and status in ('parked', 'in_doubt'){key_filter}",
                params,
            )
            refused = starts_with("error", ERASURE_REFUSED)
            row = wh.fetchone(
                f"select count(*) from {st.LEDGER} where sync_name = ? and {refused}{key_filter}",
                params,
            )
            released += int(row[0]) if row else 0
            wh.execute(
                f"update {st.LEDGER} set error = null where sync_name = ? and {refused}{key_filter}",
                params,
            )
    return released


def run_records(conn: Any, run_id: str, sample: int = 10) -> dict[str, Any]:
    """What one run did per record: counts by (operation, status), and the records left undone.

    Why from record_results: the run's own totals say how many, not which
    ones or why; a marketer asked "who did not get it, and why" needs both.
    Returns {"counts": {(operation, status): n}, "undone": [{record_key,
    operation, status, error}...] (pending, rejected, parked, in doubt, up to
    `sample`), "errors": {error: n} (most frequent first)}.
    """
    wh = _wh(conn)
    out: dict[str, Any] = {"counts": {}, "undone": [], "errors": {}}
    if not wh.table_exists(st.SCHEMA, "record_results"):
        return out
    for op, status, n in wh.fetchall(
        f"select operation, status, count(*) from {st.RESULTS} where run_id = ? group by 1, 2",
        (run_id,),
    ):
        out["counts"][(op, status)] = int(n)
    for key, op, status, error in wh.fetchall(
        f"select record_key, operation, status, error from {st.RESULTS} "
        "where run_id = ? and status <> 'accepted' order by record_key limit ?",
        (run_id, int(sample)),
    ):
        out["undone"].append({"record_key": key, "operation": op, "status": status, "error": error})
    for error, n in wh.fetchall(
        f"select coalesce(error, status), count(*) from {st.RESULTS} "
        "where run_id = ? and status <> 'accepted' group by 1 order by 2 desc, 1 limit 5",
        (run_id,),
    ):
        out["errors"][error] = int(n)
    return out
