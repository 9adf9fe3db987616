"""dbt-duckdb plugin: phone and email normalisation as DuckDB Python UDFs.

Why a plugin: phone numbers and email syntax are solved problems with
well-kept libraries (``phonenumbers``, Google's libphonenumber port, and
``email-validator``); re-deriving them in SQL regexes gets national formats,
trunk prefixes and number ranges wrong. The dispatched macros in
``macros/normalize/`` call these UDFs on DuckDB and fall back to portable SQL on
other adapters.

UDFs are Arrow-vectorised and memoised per distinct value: the same phone
appears in many records, and staging views are read by several models.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from typing import Any

import duckdb
import email_validator
import phonenumbers
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb.sqltypes import VARCHAR

# Placeholders people type when a form insists; syntactically fine, never a person.
JUNK_EMAILS = frozenset(
    {"test@test.com", "a@a.com", "none@none.com", "no@no.com", "noemail@noemail.com", "x@x.com"}
)
JUNK_EMAIL_DOMAINS = frozenset({"example.com", "example.org", "example.net", "test.com", "invalid"})


# Characters people put between digits; dropping them before the cache lookup lets
# "06 12 34 56 78", "06.12.34.56.78" and "0612345678" share one library call.
_SEPARATORS = str.maketrans("", "", " .-\t\u00a0")

# A strict subset of valid addresses (plain ASCII, dot-atom local part, letter TLD):
# email-validator accepts all of these, so they skip its (slow) full check. Anything
# else, including every non-ASCII address, goes to the library. tests/data checks
# that both agree on generated data.
_PLAIN_EMAIL = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}"
)


def _phone(raw: str | None, region: str) -> tuple[str | None, str | None]:
    """(E.164 or None, invalid reason or None)."""
    if raw is None or not raw.strip():
        return None, "missing"
    return _phone_key(raw.translate(_SEPARATORS), region)


@lru_cache(maxsize=500_000)
def _phone_key(raw: str, region: str) -> tuple[str | None, str | None]:
    digits = "".join(ch for ch in raw if ch.isdigit())
    if digits and len(set(digits)) == 1:
        return None, "placeholder"
    if any(ch.isalpha() for ch in raw) and "ext" not in raw.lower():
        return None, "unparseable"
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        return None, "unparseable"
    if not phonenumbers.is_possible_number(number):
        return None, "wrong_length"
    if not phonenumbers.is_valid_number(number):
        return None, "invalid_number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _email_reason(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return "missing"
    return _email_key(raw.strip().lower())


@lru_cache(maxsize=500_000)
def _email_key(value: str) -> str | None:
    if not (
        len(value) <= 254 and len(value.partition("@")[0]) <= 64 and _PLAIN_EMAIL.fullmatch(value)
    ):
        try:
            email_validator.validate_email(value, check_deliverability=False)
        except email_validator.EmailNotValidError:
            return "invalid_syntax"
    local, _, domain = value.rpartition("@")
    if (
        value in JUNK_EMAILS
        or domain in JUNK_EMAIL_DOMAINS
        or local in {"test", "noreply", "no-reply"}
    ):
        return "placeholder"
    return None


def phone_e164(raw: pa.Array, region: pa.Array) -> pa.Array:
    return pa.array(
        [_phone(r, g)[0] for r, g in zip(raw.to_pylist(), region.to_pylist(), strict=True)],
        pa.string(),
    )


def phone_invalid_reason(raw: pa.Array, region: pa.Array) -> pa.Array:
    return pa.array(
        [_phone(r, g)[1] for r, g in zip(raw.to_pylist(), region.to_pylist(), strict=True)],
        pa.string(),
    )


def email_invalid_reason(raw: pa.Array) -> pa.Array:
    return pa.array([_email_reason(r) for r in raw.to_pylist()], pa.string())


class Plugin(BasePlugin):
    """Registers ferry_phone_e164, ferry_phone_invalid_reason, ferry_email_invalid_reason."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config

    def configure_connection(self, conn: Any) -> None:
        udfs = [
            ("ferry_phone_e164", phone_e164, [VARCHAR, VARCHAR]),
            ("ferry_phone_invalid_reason", phone_invalid_reason, [VARCHAR, VARCHAR]),
            ("ferry_email_invalid_reason", email_invalid_reason, [VARCHAR]),
        ]
        for name, fn, params in udfs:
            # Not registered yet on a fresh connection: nothing to remove.
            with contextlib.suppress(duckdb.Error):
                conn.remove_function(name)
            conn.create_function(
                name, fn, params, VARCHAR, type="arrow", null_handling="special", side_effects=False
            )
