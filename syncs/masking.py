"""Masking for plan samples: enough to recognise a record, not enough to leak it.

Why: `ferry sync plan` output ends up in terminals, CI logs and Dagster
metadata. Identifiers and personal fields are masked; the record key
(profile_id, an opaque id) and non-personal fields are shown as they are.
"""

from __future__ import annotations

from typing import Any

PERSONAL = {
    "email",
    "phone",
    "first_name",
    "last_name",
    "name",
    "full_name",
    "birth_date",
    "street",
    "address",
    "postcode",
    "zip",
    "city",
    "owner_email",
    "ip",
}


def mask_text(value: str) -> str:
    if "@" in value:
        local, _, domain = value.partition("@")
        head, _, tld = domain.rpartition(".")
        return f"{local[:1]}***@{head[:1]}***.{tld}" if head else f"{local[:1]}***@***"
    if value.startswith("+") and value[1:].isdigit():
        return value[:3] + "*" * max(0, len(value) - 5) + value[-2:]
    if len(value) <= 2:
        return "*" * len(value)
    return value[:1] + "*" * (len(value) - 1)


def mask_payload(payload: dict[str, Any], identifiers: set[str]) -> dict[str, Any]:
    """Mask identifiers and personal fields; leave the rest readable."""
    out: dict[str, Any] = {}
    for key, value in payload.items():
        if value is None:
            out[key] = None
        elif key in identifiers or key.lower() in PERSONAL:
            out[key] = mask_text(str(value))
        else:
            out[key] = value
    return out
