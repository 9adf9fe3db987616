"""Cron expressions in the words a marketer reads ("At 06:00, every day (UTC)").

Why a library: cron-descriptor is the well-kept port of the .NET original and
covers steps, ranges, lists and day names; writing our own would only cover
the cases we thought of.
"""

from __future__ import annotations

from cron_descriptor import Options, get_description


def cron_in_words(expression: str, timezone: str = "UTC") -> str:
    """'0 6 * * *' -> 'At 06:00, every day (UTC)'; an unreadable expression is shown as it is."""
    options = Options()
    options.use_24hour_time_format = True
    try:
        words = get_description(expression, options)
    except Exception:  # noqa: BLE001 - the library raises several types; Dagster validates cron itself
        return f"on cron {expression!r} ({timezone})"
    fields = expression.split()
    if len(fields) == 5 and fields[2:] == ["*", "*", "*"] and "," not in words and fields[1] != "*":
        words += ", every day"
    return f"{words} ({timezone})"
