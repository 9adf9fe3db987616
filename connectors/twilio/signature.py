"""Twilio's request signature (``X-Twilio-Signature``), by hand: it is tiny and documented.

The signed string is the full URL Twilio requested (scheme, host, path and query,
exactly as configured) followed by every POST parameter's name and value, sorted
by name and concatenated with no separators; the signature is the base64 of its
HMAC-SHA1 keyed with the account's Auth Token. Repeated parameters contribute
each value, in order. Verified against the vector in Twilio's SDK test suites.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping


def _pairs(
    params: Mapping[str, str | list[str]] | Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for name, value in items:
        for v in value if isinstance(value, list) else [value]:
            out.append((name, v))
    return sorted(out, key=lambda kv: kv[0])  # stable: repeated names keep their order


def compute_signature(
    auth_token: str, url: str, params: Mapping[str, str | list[str]] | Iterable[tuple[str, str]]
) -> str:
    payload = url + "".join(name + value for name, value in _pairs(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(
    auth_token: str, url: str, params: Mapping[str, str | list[str]], signature: str | None
) -> bool:
    if not signature or not auth_token:
        return False
    return hmac.compare_digest(compute_signature(auth_token, url, params), signature)
