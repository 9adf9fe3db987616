"""Send mode: an erased person's messages leave the destination, and their identifiers
leave Ferry's own send ledger.

Why: upsert and mirror syncs erase through the plan (operation `erase`: the person a
sync holds at the destination is deleted there). A send sync holds no membership, but
each message it sent is personal data twice over: in the tool's message log (a Twilio
message keeps the number and the text) and in the send ledger (identifiers and payload,
kept so a lost answer can be reconciled). Once a person is in `marts.erased_profiles`,
each run of a send sync, after reconcile and before planning:

- asks the destination to delete the messages the ledger holds for that person, where
  the destination can (`erase_messages`, e.g. Twilio's DELETE Messages/{Sid});
- then scrubs those ledger rows: identifiers and payload become null. The idempotency
  key, status and occurrence stay, so exactly-once still holds for that key.

Sends still being settled (`intent`, `in_doubt`) wait until reconcile has settled them:
the lookup needs the number and the text. A delete that fails for a transient reason
(Twilio's 20009 "still processing", a timeout) stays for the next run, with its error.
A delete the destination refuses for good (another account's message, a malformed id)
is parked instead of asked again every run: `ferry sync erasures` lists both with
their error (`syncs.history.pending_erasures`), and `ferry sync unpark` asks again
once a person has fixed the cause.
Ledger rows carry the person's `profile_id` (rows written before it existed are matched
by record key, which is the profile id for send syncs keyed by it, the default).
Messages the sync sent under an earlier destination key (another sender of the same
Twilio account) are erased too when the destination says it can reach them
(`erases_for(destination_key)`); those of another account stay listed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from connectors.base import (
    AuthError,
    DestinationError,
    Operation,
    Outcome,
    Record,
    RecordResult,
)
from syncs import state as st
from syncs.config import SyncConfig
from syncs.plan_sql import erased_relation
from syncs.throttle import share_quota
from syncs.warehouse import Warehouse

if TYPE_CHECKING:
    from syncs.runner import Runner

SCRUBBED = "erased"  # the ledger's error column once a row's personal data is gone
FAILED = "erasure: "  # prefix of the error column while a delete keeps failing
REFUSED = "erasure refused: "  # prefix once the destination refused it for good (parked)


def starts_with(column: str, prefix: str) -> str:
    """`column` starts with `prefix`, without a LIKE pattern: `%` in SQL text clashes with
    the DB-API's `%s` placeholders on PostgreSQL."""
    return f"(substr({column}, 1, {len(prefix)}) = '{prefix}')"


def erasable_sends_sql(erased: str, keys: int = 1) -> str:
    """Ledger rows of erased people still holding personal data (params: sync, then `keys`
    destination keys); sends being settled are left to reconcile first."""
    return (
        f"select idempotency_key, record_key, destination_id from {st.LEDGER} "
        f"where sync_name = ? and destination_key in ({', '.join('?' * keys)}) "
        f"and status not in ('{st.INTENT}', '{st.IN_DOUBT}') "
        "and (identifiers_json is not null or payload_json is not null) "
        f"and (error is null or {starts_with('error', REFUSED)} = false) "
        f"and coalesce(profile_id, record_key) in (select cast(profile_id as varchar) from {erased})"
    )


def erasure_keys(wh: Warehouse, sync: SyncConfig, dkey: str, destination: Any) -> list[str]:
    """The destination keys whose sends this destination can erase: its own, and earlier
    ones of this sync it says it reaches (`erases_for`: another sender, same account)."""
    reaches = getattr(destination, "erases_for", None)
    if not callable(reaches):
        return [dkey]
    others = wh.fetchall(
        f"select distinct destination_key from {st.LEDGER} "
        "where sync_name = ? and destination_key <> ? and destination_key is not null",
        (sync.name, dkey),
    )
    return [dkey, *sorted(k for (k,) in others if reaches(k))]


def erasable_sends(wh: Warehouse, sync: SyncConfig, dkey: str, destination: Any = None) -> int:
    """How many sends a run would erase now (a plan's `erase` count for a send sync)."""
    erased = erased_relation(wh, sync.marts_schema)
    if erased is None:
        return 0
    keys = erasure_keys(wh, sync, dkey, destination)
    sql = erasable_sends_sql(erased, len(keys))
    row = wh.fetchone(f"select count(*) from ({sql}) e", (sync.name, *keys))
    return int(row[0]) if row else 0


def erase_sent(runner: Runner) -> int:
    """Erase what a send sync's ledger holds of erased people; returns how many sends it
    found to erase (the run's planned erasures). Sets `erased` and `erasures_left` on the
    run's result and `erasure_error` on the runner (its verdict reports them).

    Paced by the destination's request budget (shared with every sync to it), and each
    chunk is committed under the lease (`fence`): a long backlog neither overruns the
    vendor nor loses its progress to a kill, and a run that lost its lease stops.
    """
    sync, wh, result = runner.sync, runner.wh, runner.result
    if sync.mode != "send":
        return 0
    erased = erased_relation(wh, sync.marts_schema)
    if erased is None:
        return 0
    keys = erasure_keys(wh, sync, runner.dkey, runner.destination)
    rows = wh.fetchall(
        erasable_sends_sql(erased, len(keys)) + " order by idempotency_key", (sync.name, *keys)
    )
    if not rows:
        return 0
    delete = getattr(runner.destination, "erase_messages", None)
    if not callable(delete):
        delete = None
    local = [ik for ik, _key, sid in rows if not (delete and sid)]
    _update(runner, keys, local, {})
    result.erased += len(local)
    if delete is None:
        return len(rows)
    caps = runner.destination.capabilities
    asks = [
        (ik, Record(key, Operation.DELETE, {"_destination_id": sid}, ik))
        for ik, key, sid in rows
        if sid
    ]
    size = 1 if caps.request_per_send else max(1, caps.max_batch_records)
    pace = share_quota(
        runner.destination, runner.dkey, caps.max_requests_per_second, caps.max_concurrency
    )
    for start in range(0, len(asks), size):
        chunk = asks[start : start + size]
        pace.acquire()
        scrub, failed = [], {}
        for (ik, _record), res in zip(chunk, _ask(delete, [r for _, r in chunk]), strict=True):
            if res.outcome is Outcome.ACCEPTED:
                scrub.append(ik)
                continue
            refused = res.outcome is Outcome.REJECTED
            failed[ik] = f"{REFUSED if refused else FAILED}{res.error or res.outcome.value}"
            runner.erasure_error = runner.erasure_error or failed[ik]
        _update(runner, keys, scrub, failed)
        result.erased += len(scrub)
        result.erasures_left += len(failed)
    return len(rows)


def _ask(
    delete: Callable[[list[Record]], list[RecordResult]], records: list[Record]
) -> list[RecordResult]:
    """The destination's answers, one per record in order; a request that could not be made
    leaves the whole chunk for the next run (credentials trouble stops the run)."""
    try:
        results = list(delete(records))
    except AuthError:
        raise
    except DestinationError as exc:
        return [
            RecordResult(r.key, Outcome.RETRYABLE, f"{type(exc).__name__}: {exc}") for r in records
        ]
    if len(results) != len(records):
        return [
            RecordResult(r.key, Outcome.RETRYABLE, "no answer for this message") for r in records
        ]
    return results


def _update(runner: Runner, keys: list[str], scrub: list[str], failed: dict[str, str]) -> None:
    """Scrubbed rows lose identifiers and payload; failed ones keep them and say why. One
    commit, under the lease; rows a reconcile has put back in doubt are never touched."""
    if not scrub and not failed:
        return
    wh, now = runner.wh, st.utc_now()
    rows = pa.table(
        {
            "ik": pa.array([*scrub, *failed], pa.string()),
            "err": pa.array([SCRUBBED] * len(scrub) + list(failed.values()), pa.string()),
            "gone": pa.array([True] * len(scrub) + [False] * len(failed), pa.bool_()),
        }
    )
    with wh.transaction(), wh.stage("__ferry_erased_sends", rows) as staged:
        runner.fence()
        for gone in (True, False):
            personal = "identifiers_json = null, payload_json = null, " if gone else ""
            wh.execute(
                f"update {st.LEDGER} as l set {personal}error = e.err, updated_at = ? "
                f"from {staged} e where e.ik = l.idempotency_key and e.gone = {'true' if gone else 'false'} "
                f"and l.sync_name = ? and l.destination_key in ({', '.join('?' * len(keys))}) "
                f"and l.status not in ('{st.INTENT}', '{st.IN_DOUBT}')",
                (now, runner.sync.name, *keys),
            )
