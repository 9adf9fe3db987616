"""Which inbound SMS opt a recipient out or back in, as Twilio documents it.

Default keywords (Twilio's "support for opt-out keywords" and the Advanced Opt-Out
guide): a message whose whole body, trimmed and in any case, is one of STOP, STOPALL,
UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE or OPTOUT opts the sender out of that number;
START, UNSTOP or YES opts back in. HELP and INFO answer with help and change nothing.

Advanced Opt-Out (a Messaging Service feature) lets an account add its own keywords
(e.g. ARRET, BAJA); Twilio then tells the incoming-message webhook what it decided in
the ``OptOutType`` parameter (``STOP``, ``START`` or ``HELP``). That decision wins over
our own keyword list: it is what Twilio enforces (21610 on the next send).

Shared by the receiver, the message pull and the sandbox, so all three agree.
"""

from __future__ import annotations

STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})
OPT_OUT_TYPES = {"STOP": True, "START": False}  # OptOutType -> opted_out; HELP: no change


def keyword_of(body: str | None) -> str:
    """The body as Twilio compares it with keywords: trimmed, upper case."""
    return (body or "").strip().upper()


def opt_out_decision(body: str | None, opt_out_type: str | None = None) -> tuple[str, bool] | None:
    """``(keyword, opted_out)`` for an opt-out or opt-in message, None for anything else.

    The keyword stored is the default keyword the body is, else Twilio's
    ``OptOutType`` (a custom Advanced Opt-Out keyword is not echoed: bodies are not kept).
    """
    word = keyword_of(body)
    kind = keyword_of(opt_out_type)
    if kind in OPT_OUT_TYPES:
        defaults = STOP_WORDS if OPT_OUT_TYPES[kind] else START_WORDS
        return (word if word in defaults else kind), OPT_OUT_TYPES[kind]
    if kind in HELP_WORDS:
        return None
    if word in STOP_WORDS:
        return word, True
    if word in START_WORDS:
        return word, False
    return None
