"""One run per sync at a time, on every warehouse: a lease row in ``ferry_sync.leases``.

Why a row in the warehouse and not a lock in the orchestrator: two schedulers, a
person at the CLI and a Dagster sensor can all start the same sync, and the only
thing they share is the warehouse that holds the sync's state. The lease is taken
in its own transaction before anything is planned, and renewed inside every
transaction that lets records leave (the write-ahead's first window, each send's
intent, each batch's commit; the later write-ahead windows read it): a run that lost its lease (it stalled past the expiry and another
run took over) fails that transaction and stops before sending anything more.

A lease is free when it is released, expired, or held by a process on this host
that no longer exists (kill -9: taken over at once instead of waiting for the
expiry). Taking over marks the previous holder's run ``crashed``.

Concurrency: PostgreSQL serialises the conditional UPDATE on the row and the
primary key refuses a second INSERT; DuckDB refuses the second writer's
conflicting transaction (and a second process cannot open the file at all). Every
such refusal means "someone else holds it" and becomes :class:`SyncBusy`.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from syncs.warehouse import Warehouse

SCHEMA = "ferry_sync"
LEASES = f"{SCHEMA}.leases"
DDL = (
    f"create table if not exists {LEASES} (sync_name varchar primary key, run_id varchar not null, "
    "holder varchar not null, acquired_at timestamp, heartbeat_at timestamp, expires_at timestamp)"
)
DEFAULT_TTL_SECONDS = 900.0


class SyncBusy(RuntimeError):
    """Another run of this sync holds its lease."""


class LeaseLost(RuntimeError):
    """This run's lease was taken over: it must not let anything more leave."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def this_holder() -> str:
    """host:pid of this process (what lets a dead holder on this host be recognised)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_dead(holder: str) -> bool:
    """True only when the holder ran on this host and its process is gone."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # this very process: an earlier run that did not release is still ours to judge by expiry
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


# A lease renewed less than this share of its ttl ago cannot have been taken over (see
# Lease.may_be_lost): another run takes over only an expired lease, or one whose process
# is gone. The other half of the ttl is the clock skew tolerated between hosts.
TRUSTED_SHARE = 0.5


@dataclass
class Lease:
    """A lease this run holds. `renew()` inside a transaction is the fencing check."""

    wh: Warehouse
    sync_name: str
    run_id: str
    ttl: float = DEFAULT_TTL_SECONDS
    # time.monotonic() taken just before the lease's expiry was last written (acquire, renew)
    renewed_at: float = field(default_factory=time.monotonic)

    def may_be_lost(self) -> bool:
        """Could another run hold the lease now? Only once its known expiry approaches.

        Why a run need not read the lease row before each request: a run takes over
        only an expired lease or one whose holder's process is gone (`acquire`), and
        this process is alive and wrote the expiry itself. Until TRUSTED_SHARE of the
        ttl has passed since (measured on this process's monotonic clock, from before
        the write), the lease is this run's, unless another host's clock runs ahead of
        this one's by more than the rest of the ttl (7.5 minutes by default). Reading
        the row before each request cost 0.7 s of CPU per 878 requests; every commit
        renews it anyway (`renew`, the fence)."""
        return time.monotonic() - self.renewed_at >= self.ttl * TRUSTED_SHARE

    def renew(self) -> None:
        """Extend the lease; raise LeaseLost if another run holds it now.

        Call inside the transaction that lets records leave, so the check and the
        write-ahead commit (or fail) together.
        """
        renewing = time.monotonic()
        now = _now()
        self.wh.execute(
            f"update {LEASES} set heartbeat_at = ?, expires_at = ? where sync_name = ? and run_id = ?",
            (now, now + timedelta(seconds=self.ttl), self.sync_name, self.run_id),
        )
        self.check()
        # Counted from before the write; committed with the transaction the caller holds
        # (if that fails, the run stops anyway).
        self.renewed_at = renewing

    def check(self) -> None:
        """Raise LeaseLost if another run holds the lease now (a read: no commit needed).

        Between the commits that renew it, the engine checks before each request, so a
        run whose lease was taken over stops before sending more."""
        row = self.wh.fetchone(
            f"select run_id from {LEASES} where sync_name = ?", (self.sync_name,)
        )
        if not row or row[0] != self.run_id:
            raise LeaseLost(
                f"sync {self.sync_name}: run {self.run_id[:8]} lost its lease "
                f"(now held by {row[0][:8] if row else 'nobody'}); stopped before sending more"
            )

    def release(self) -> None:
        self.wh.execute(
            f"delete from {LEASES} where sync_name = ? and run_id = ?",
            (self.sync_name, self.run_id),
        )


def ensure_leases(wh: Warehouse) -> None:
    if not wh.table_exists(SCHEMA, "leases"):
        wh.execute(DDL)


def _busy(sync_name: str, run_id: str, acquired_at: datetime | None) -> SyncBusy:
    since = f"{acquired_at:%Y-%m-%d %H:%M} UTC" if acquired_at else "an unknown time"
    return SyncBusy(f"sync {sync_name} is running since {since} (run {run_id[:8]})")


def acquire(
    wh: Warehouse, sync_name: str, run_id: str, runs_table: str, ttl: float = DEFAULT_TTL_SECONDS
) -> Lease:
    """Take the sync's lease for `run_id` or raise SyncBusy naming the run that holds it.

    A dead or expired holder is taken over, and its run (and any other run of this
    sync still marked running: killed before leases existed) is marked crashed.
    """
    ensure_leases(wh)
    taking = time.monotonic()
    now = _now()
    expires = now + timedelta(seconds=ttl)
    holder = this_holder()
    try:
        with wh.transaction():
            row = wh.fetchone(
                f"select run_id, holder, acquired_at, expires_at from {LEASES} where sync_name = ?",
                (sync_name,),
            )
            if row is None:
                wh.execute(
                    f"insert into {LEASES} values (?, ?, ?, ?, ?, ?)",
                    (sync_name, run_id, holder, now, now, expires),
                )
            else:
                old_run, old_holder, acquired_at, old_expires = row
                stale = (old_expires is not None and old_expires < now) or _holder_is_dead(
                    old_holder
                )
                if not stale:
                    raise _busy(sync_name, old_run, acquired_at)
                wh.execute(
                    f"update {LEASES} set run_id = ?, holder = ?, acquired_at = ?, heartbeat_at = ?, "
                    "expires_at = ? where sync_name = ? and run_id = ?",
                    (run_id, holder, now, now, expires, sync_name, old_run),
                )
                taken = wh.fetchone(
                    f"select run_id from {LEASES} where sync_name = ?", (sync_name,)
                )
                if not taken or taken[0] != run_id:
                    raise _busy(sync_name, taken[0] if taken else old_run, acquired_at)
            wh.execute(
                f"update {runs_table} set status = 'crashed', finished_at = ?, "
                "error = coalesce(error, 'the run ended without finishing (killed or lost); its lease was taken over') "
                "where sync_name = ? and status = 'running' and run_id <> ?",
                (now, sync_name, run_id),
            )
    except SyncBusy:
        raise
    except Exception as exc:
        if not _is_conflict(exc):
            raise
        row = wh.fetchone(
            f"select run_id, acquired_at from {LEASES} where sync_name = ?", (sync_name,)
        )
        raise _busy(sync_name, row[0] if row else "?", row[1] if row else None) from None
    return Lease(wh, sync_name, run_id, ttl, renewed_at=taking)


def _is_conflict(exc: Exception) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return any(
        word in text
        for word in (
            "conflict",
            "unique",
            "duplicate key",
            "primary key",
            "serializ",
            "could not set lock",
        )
    )


def holder_of(wh: Warehouse, sync_name: str) -> tuple[str, datetime | None] | None:
    """(run_id, acquired_at) of the run holding the sync's lease, for plans and the CLI."""
    if not wh.table_exists(SCHEMA, "leases"):
        return None
    row = wh.fetchone(
        f"select run_id, acquired_at, expires_at, holder from {LEASES} where sync_name = ?",
        (sync_name,),
    )
    if row is None:
        return None
    if (row[2] is not None and row[2] < _now()) or _holder_is_dead(row[3]):
        return None
    return row[0], row[1]
