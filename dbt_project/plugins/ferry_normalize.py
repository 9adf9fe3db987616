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

from functools import lru_cache
from typing import Any

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


@lru_cache(maxsize=500_000)
def _phone(raw: str | None, region: str) -> tuple[str | None, str | None]:
    """(E.164 or None, invalid reason or None)."""
    if raw is None or not raw.strip():
        return None, "missing"
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


@lru_cache(maxsize=500_000)
def _email_reason(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return "missing"
    value = raw.strip().lower()
    try:
        email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError:
        return "invalid_syntax"
    local, _, domain = value.rpartition("@")
    if value in JUNK_EMAILS or domain in JUNK_EMAIL_DOMAINS or local in {"test", "noreply", "no-reply"}:
        return "placeholder"
    return None


def phone_e164(raw: pa.Array, region: pa.Array) -> pa.Array:
    return pa.array([_phone(r, g)[0] for r, g in zip(raw.to_pylist(), region.to_pylist(), strict=True)], pa.string())


def phone_invalid_reason(raw: pa.Array, region: pa.Array) -> pa.Array:
    return pa.array([_phone(r, g)[1] for r, g in zip(raw.to_pylist(), region.to_pylist(), strict=True)], pa.string())


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
            try:
                conn.remove_function(name)
            except Exception:  # noqa: BLE001 - not registered yet on this connection
                pass
            conn.create_function(
                name, fn, params, VARCHAR, type="arrow", null_handling="special", side_effects=False
            )
