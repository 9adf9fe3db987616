"""The words the UI uses for the engine's codes: modes, run results, audience titles.

Why one module: the audience page, the overview and the sync page show the same
things (a sync's mode, how its last run went); a marketer should read the same
words on each, not `mirror` on one and "keeps the list identical" on another,
nor an engine status such as `needs_confirmation`.
"""

from __future__ import annotations

# A sync's mode, in a sentence (the sync asset's description).
MODE_SENTENCES = {
    "upsert": "adds new members and updates changed ones",
    "mirror": "keeps the destination list identical to the audience (adds, updates and removes those who left)",
    "insert": "adds new members only",
    "send": "sends one message to each member entering the audience, exactly once",
    "delete": "erases these people at the destination",
}

# The same, short enough for a table cell.
MODE_LABELS = {
    "upsert": "add and update",
    "mirror": "keep identical",
    "insert": "add new only",
    "send": "one message each",
    "delete": "erase",
}

# A run's status (syncs.run_result.RunResult.status), as the overview and audience pages say it.
RESULT_WORDS = {
    "success": "delivered",
    "partial": "not finished (retried next run)",
    "needs_attention": "needs attention",
    "needs_confirmation": "stopped: waiting for confirmation",
    "busy": "skipped: already running",
    "auth_failed": "refused our credentials",
    "failed": "failed",
    "crashed": "crashed",
    "running": "running",
}

# Words of an audience name a marketer writes in capitals.
_CAPITALS = {"nps", "sms", "vip", "rfm", "crm", "b2b", "b2c", "x", "ai", "ab"}


def mode_label(mode: str) -> str:
    return MODE_LABELS.get(mode, mode)


def result_words(status: str | None) -> str:
    if not status:
        return "not synced yet"
    return RESULT_WORDS.get(status, status.replace("_", " "))


def audience_title(name: str) -> str:
    """'aud_win_back' -> 'Win back'; 'aud_nps_detractors' -> 'NPS detractors'."""
    words = name.removeprefix("aud_").split("_")
    shown = [w.upper() if w in _CAPITALS else w for w in words]
    if shown and shown[0] == words[0]:
        shown[0] = shown[0].capitalize()
    return " ".join(shown)
