"""Quiet hours: a local-time window in which no message leaves.

Shared by the sync policy (syncs.config, where a marketer declares it) and the
destinations that honour it (connectors.twilio), so both validate the same way.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class QuietHours(BaseModel):
    """Local-time window in which no SMS leaves, e.g. 21:00 -> 08:00 (may wrap midnight)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = "21:00"
    end: str = "08:00"
    default_timezone: str = "UTC"  # when the number's country spans no single known zone

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError("must be HH:MM (24h)")
        return value

    def contains(self, local: datetime) -> bool:
        minutes = local.hour * 60 + local.minute
        start = int(self.start[:2]) * 60 + int(self.start[3:])
        end = int(self.end[:2]) * 60 + int(self.end[3:])
        if start == end:
            return False
        return start <= minutes < end if start < end else (minutes >= start or minutes < end)
