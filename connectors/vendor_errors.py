"""What a vendor said when it refused a request: its error code and message, PII removed.

Why one module: an error body is the only place a user learns *why* a vendor refused
(a scope, a feature the account is not allowlisted for, a flagged audience), and each
vendor shapes it differently. The HTTP layer puts this text into :class:`AuthError`
messages; connectors put it into per-record results. Every message passes through
:func:`redact_pii` first, because vendors echo the address or number they refused.

Shapes read (each from the vendor's published error reference):

- Google (google.rpc.Status, Google Ads and Data Manager APIs):
  ``{"error": {"code": 403, "status": "PERMISSION_DENIED", "message": ..., "details":
  [{"errors": [{"errorCode": {"authorizationError": "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE"},
  "message": ...}]}, {"reason": ...}]}}``
- Meta Graph API: ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``
- SendGrid: ``{"errors": [{"field", "message", "error_id"}]}``
- Twilio: ``{"code": 20003, "message": ..., "more_info": ..., "status": 401}``
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_EMAIL = re.compile(r"[^\s@\"',;:<>()\[\]]+@[^\s@\"',;:<>()\[\]]+")
_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")
_MAX_MESSAGE = 300

# Codes that mean "this account/feature is not allowed", not "these credentials are bad".
FEATURE_NOT_ALLOWED = frozenset(
    {
        "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE",  # Google Ads: Customer Match on the old path
        "DEVELOPER_TOKEN_NOT_APPROVED",
        "DEVELOPER_TOKEN_PROHIBITED",
        "CUSTOMER_NOT_ENABLED",
    }
)


def redact_pii(message: str) -> str:
    """Replace e-mail addresses and phone-like digit runs; cap the length (bodies can be big)."""
    text = _PHONE.sub("<phone>", _EMAIL.sub("<email>", message))
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


@dataclass(frozen=True)
class VendorError:
    """The vendor's own words for a refusal. ``code`` joins the codes the body gave
    (e.g. ``PERMISSION_DENIED/CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE``, ``100/1713230``)."""

    status: int
    code: str | None
    message: str | None
    codes: tuple[str, ...] = ()

    @property
    def feature_not_allowed(self) -> bool:
        return any(c in FEATURE_NOT_ALLOWED for c in self.codes)

    def describe(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.code:
            parts.append(self.code)
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text


def _google_codes(error: dict[str, Any]) -> tuple[list[str], list[str]]:
    codes: list[str] = []
    messages: list[str] = []
    for detail in error.get("details") or []:
        if not isinstance(detail, dict):
            continue
        if detail.get("reason"):  # google.rpc.ErrorInfo
            codes.append(str(detail["reason"]))
        for item in detail.get("errors") or []:  # GoogleAdsFailure
            for value in (item.get("errorCode") or {}).values():
                codes.append(str(value))
            if item.get("message"):
                messages.append(str(item["message"]))
    return codes, messages


def parse_vendor_error(status: int, body: bytes | str | None) -> VendorError:
    """Read the vendor's code and message from an error body; anything unreadable gives
    only the status (never the raw body, which may hold PII)."""
    try:
        data = json.loads(body or b"")
    except (ValueError, TypeError):
        return VendorError(status, None, None)
    if not isinstance(data, dict):
        return VendorError(status, None, None)
    codes: list[str] = []
    message: str | None = None
    error = data.get("error")
    if isinstance(error, dict):
        if error.get("status"):  # Google
            codes.append(str(error["status"]))
            detail_codes, detail_messages = _google_codes(error)
            codes.extend(detail_codes)
            message = "; ".join(detail_messages) or error.get("message")
        else:  # Meta
            if error.get("code") is not None:
                codes.append(str(error["code"]))
            if error.get("error_subcode") is not None:
                codes.append(str(error["error_subcode"]))
            message = error.get("error_user_msg") or error.get("message")
    elif isinstance(error, str):
        message = error
    elif isinstance(data.get("errors"), list):  # SendGrid
        items = [e for e in data["errors"] if isinstance(e, dict)]
        codes.extend(str(e["error_id"]) for e in items if e.get("error_id"))
        message = "; ".join(
            (f"{e['field']}: " if e.get("field") else "") + str(e.get("message") or "")
            for e in items
        )
    elif data.get("code") is not None or data.get("message"):  # Twilio
        if data.get("code") is not None:
            codes.append(str(data["code"]))
        message = data.get("message")
    unique = tuple(dict.fromkeys(codes))
    return VendorError(
        status,
        "/".join(unique) or None,
        redact_pii(str(message)) if message else None,
        unique,
    )
