"""Five-field cron, just enough to say whether a sync is due.

Why not croniter: it is not in the pinned environment, and `syncs` must not
import Dagster (whose scheduler is what runs syncs in production anyway). The
CLI's `--all` only needs "the latest tick at or before now", which this does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_BOUNDS = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]  # minute hour dom month dow (0 = Sunday)
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
}


def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
            if step <= 0:
                raise ValueError(f"bad step in {text!r}")
        if part == "*":
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(part)
            end = high if step > 1 else start
        if high == 6 and end == 7:  # cron allows 7 for Sunday
            end = 6 if start <= 6 else 0
            values.add(0)
        if start < low or end > high or start > end:
            raise ValueError(f"{text!r} out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def parse_cron(expr: str) -> list[set[int]]:
    expr = _ALIASES.get(expr.strip(), expr.strip())
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(f"cron {expr!r} must have 5 fields (minute hour day month weekday)")
    try:
        return [_field(p, lo, hi) for p, (lo, hi) in zip(parts, _BOUNDS)]
    except ValueError as exc:
        raise ValueError(f"cron {expr!r}: {exc}") from None


def validate_cron(expr: str) -> None:
    parse_cron(expr)


def last_tick(expr: str, now: datetime) -> datetime | None:
    """The latest time <= now matching the cron (searching back up to 366 days)."""
    minutes, hours, doms, months, dows = parse_cron(expr)
    dom_any = len(doms) == 31
    dow_any = len(dows) == 7
    day = now.replace(second=0, microsecond=0)
    for offset in range(367):
        date = (day - timedelta(days=offset)).date()
        if date.month not in months:
            continue
        dow = (date.weekday() + 1) % 7
        # Vixie cron: if both day fields are restricted, either may match.
        if dom_any or dow_any:
            ok = date.day in doms and dow in dows
        else:
            ok = date.day in doms or dow in dows
        if not ok:
            continue
        for hour in sorted(hours, reverse=True):
            for minute in sorted(minutes, reverse=True):
                candidate = datetime(
                    date.year, date.month, date.day, hour, minute, tzinfo=now.tzinfo
                )
                if candidate <= now:
                    return candidate
    return None


def is_due(expr: str | None, last_started: datetime | None, now: datetime) -> bool:
    """Due when a tick has passed since the last run started (never run: due). No cron: never due."""
    if not expr:
        return False
    tick = last_tick(expr, now)
    if tick is None:
        return False
    return last_started is None or last_started < tick
