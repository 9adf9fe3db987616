"""Twilio's default opt-out keywords (Advanced Opt-Out off): a reply of one of these
words, case-insensitive and alone in the body, opts the sender out of (or back
into) messages from that number.

Why its own module: the engagement source reads replies with them and the
sandbox answers them; production code must not import the sandbox to get them.
"""

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
