"""The one place Dagster (and `ferry demo`) call the sync engine.

Why an adapter: the engine (``syncs/``) imports no Dagster; this module turns
its plan/run results into one flat ``SyncReport`` that the sync assets, the
plan job and the demo summary all print the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SyncReport:
    sync: str
    status: str = "ok"  # ok | dry_run | needs_confirmation | failed
    audience_size: int = 0
    adds: int = 0
    updates: int = 0
    removes: int = 0
    unchanged: int = 0
    sent: int = 0
    failed: int = 0
    parked: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)
    match_rate: float | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)  # already masked
    message: str = ""
    run_id: Any = None
    retryable: bool = False

    @property
    def needs_attention(self) -> bool:
        return self.status in ("needs_confirmation", "failed")

    def sample_markdown(self, limit: int = 10) -> str:
        rows = self.sample[:limit]
        if not rows:
            return "_no changes_"
        columns = list(rows[0].keys())
        head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        body = "\n".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows)
        return head + body


def run_sync(conn: Any, sync: Any, *, dry_run: bool, log: Any = None) -> SyncReport:
    """Plan (dry run) or run one sync with the engine, on an open warehouse connection."""
    raise NotImplementedError("sync engine not available yet")
