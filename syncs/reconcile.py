"""Send mode: settle every send whose answer was lost, before anything may go out again."""

from __future__ import annotations

import json

from connectors.base import (
    AuthError,
    DestinationError,
    Operation,
    Outcome,
    Record,
    RecordResult,
    expand_results,
)
from syncs import state as st
from syncs.batching import batches
from syncs.runner import OURS, Runner


def reconcile(runner: Runner) -> None:
    """Settle every intent/in-doubt send of this sync with the destination before planning.

    Proof only: the destination finds the message by what Ferry set on it (its
    idempotency key, or a message created after the intent), or proves it absent.
    What it cannot settle stays `in_doubt` with the destination's reason: never
    sent again automatically, never counted as sent, listed by `ferry sync parked`,
    and the run ends `needs_attention`.
    """
    rows = runner.wh.fetchall(
        f"select idempotency_key, record_key, occurrence, attempts, payload_json, created_at, status, "
        "profile_id "
        f"from {st.LEDGER} where {OURS} and status in (?, ?) order by idempotency_key",
        (runner.sync.name, runner.dkey, st.INTENT, st.IN_DOUBT),
    )
    if not rows:
        return
    # Rewritten rows keep the person they belong to (see Runner.profiles).
    runner.profiles.update((rk, pid) for _ik, rk, *_rest, pid in rows if pid)
    items = [
        (
            Record(
                key=rk,
                operation=Operation.SEND,
                payload=json.loads(pj or "{}"),
                idempotency_key=ik,
                attempt=at + 1,
                intent_at=created,
            ),
            occ or "",
        )
        for ik, rk, occ, at, pj, created, _status, _profile in rows
    ]
    # A destination that finds a send by what it looks like (Twilio: the same number and
    # text, created after the intent) must not take a message the ledger already holds for
    # another send: two members of a household share a phone.
    hold = getattr(runner.destination, "reconcile_holding", None)
    held: set[str] = set()
    if callable(hold):
        intents = [created for *_x, created, _status, _profile in rows if created is not None]
        held = _held_destination_ids(runner, min(intents) if intents else None)
    for batch in batches(items, runner.destination.capabilities):
        records = [r for r, _ in batch]
        if callable(hold):
            hold(held)  # with what the batches before this one settled
        try:
            results = expand_results(records, runner.destination.reconcile(records))
        except AuthError:
            raise
        except DestinationError as exc:
            # The destination could not answer: these stay in doubt (not sent again).
            runner.result.in_doubt += len(batch)
            runner.first_error.setdefault(Outcome.IN_DOUBT, f"lookup failed: {exc}")
            continue
        by_key = {res.key: res for res in results}
        now = st.utc_now()
        ledger_rows = []
        for r, occurrence in batch:
            res = by_key.get(r.key) or RecordResult(
                r.key, Outcome.IN_DOUBT, "the destination returned no answer for it"
            )
            attempts = r.attempt - 1
            if res.outcome == Outcome.ACCEPTED:
                status, error = st.SENT, None
                runner.result.reconciled += 1
                if res.destination_id:
                    held.add(str(res.destination_id))
            elif res.outcome == Outcome.RETRYABLE:
                status, error = (
                    st.RETRY,
                    f"proven absent at the destination: {res.error or ''}".rstrip(": "),
                )
                runner.result.reconciled += 1
            elif res.outcome == Outcome.REJECTED:
                attempts += 1
                status = st.PARKED if attempts >= runner.max_attempts else st.REJECTED
                error = res.error
                runner.result.reconciled += 1
            else:
                status = st.IN_DOUBT
                error = f"in doubt: {res.error or 'the destination could not settle it'}"
                runner.result.in_doubt += 1
                runner.first_error.setdefault(
                    Outcome.IN_DOUBT, res.error or "the destination could not settle it"
                )
            ledger_rows.append(
                runner.ledger_row(r, occurrence, status, attempts, res.destination_id, error, now)
            )
        with runner.wh.transaction():
            runner.replace_ledger(ledger_rows)


# How far before the earliest in-doubt intent a ledger row's last update may lie and its
# message still be one the lookup finds (created after that intent, less the destination's
# clock skew): a message is created before the row that holds it is updated to sent.
HELD_LOOKBACK = "1 day"


def _held_destination_ids(runner: Runner, earliest: object) -> set[str]:
    """The message ids the ledger holds for any sync and destination, updated since a day
    before the earliest intent being settled.

    Every destination key, not only this run's: a lookup without a sender filter (Twilio
    through a Messaging Service) sees every sender of the account, and rows written before
    destination identity have none. Message ids are the vendor's, unique across its
    accounts, so excluding another account's can never hide this one's."""
    sql = f"select destination_id from {st.LEDGER} where destination_id is not null"
    params: tuple = ()
    if earliest is not None:
        sql += f" and updated_at >= cast(? as timestamp) - interval '{HELD_LOOKBACK}'"
        params = (earliest,)
    return {str(did) for (did,) in runner.wh.fetchall(sql, params)}
