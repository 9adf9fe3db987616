"""What a run did: the engine's answer to Dagster, the CLI and `ferry_sync.runs`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class RunResult:
    """What a run did.

    `status`:
    - success: every planned record was accepted (suppressed ones are not work);
    - partial: some records were rejected or left pending; the next run retries them;
    - needs_attention: sends in doubt the destination could not settle, or records
      parked after max_attempts: a person should look (`ferry sync parked`);
    - needs_confirmation: a safety stop (mass removal, empty audience, a floor);
    - busy: another run of this sync holds its lease; this one did nothing;
    - auth_failed, failed: the run stopped (credentials, a destination failing past
      its retry budget, a configuration or policy error); the rest stays pending;
    - crashed: a bug or a kill (marked by the run that takes over the lease).
    Every status but success carries a one-line `error` saying why.
    """

    run_id: str
    sync: str
    mode: str
    status: str = "running"
    planned: dict[str, int] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    sent: int = 0  # accepted by the destination (any operation)
    failed: int = 0  # rejected this run, will be retried next run
    parked: int = (
        0  # parked this run (max attempts, unsettled in-doubt sends, destination opt-outs)
    )
    pending: int = 0  # retryable: left for the next run, no attempt counted
    in_doubt: int = 0  # send mode: answer lost, to reconcile next run
    reconciled: int = 0  # in-doubt sends settled at the start of this run
    erased: int = 0  # send mode: sends of erased people erased this run (syncs.erasure)
    erasures_left: int = 0  # send mode: erasures the destination could not do yet
    duration_s: float = 0.0
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    destination_key: str = ""  # the destination identity this run wrote to
    target: str = ""  # "sandbox" or the real host, when the destination says

    @property
    def ok(self) -> bool:
        return self.status == "success"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("started_at", "finished_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out
