"""Twilio's request signature (``X-Twilio-Signature``) through the official ``twilio``
package's :class:`twilio.request_validator.RequestValidator`.

Why the SDK and not our own HMAC: Twilio's validator is the definition. It checks the
URL both with and without the default port (Twilio signs ``https://host/path`` or
``https://host:443/path`` depending on how the webhook was configured), sorts repeated
form parameters' values (and drops duplicates) the way Twilio's back end does, and
knows the SharedKey variant announced by ``X-Twilio-Webhooks-Signature-Settings``
(``algorithm=HMAC_SHA256``). A hand-written copy got the last two wrong.

The URL to validate is the one Twilio requested: the public URL from configuration
(``FERRY_RECEIVER_PUBLIC_URL``), never the request line a proxy rewrote.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from twilio.request_validator import RequestValidator, get_signature_algorithm

SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


class FormParams(Mapping[str, str]):
    """Form parameters with every value of a repeated name: the MultiDict shape
    (``getall``) that ``RequestValidator`` reads repeated parameters from."""

    def __init__(
        self, params: Mapping[str, str | list[str]] | Iterable[tuple[str, str]]
    ) -> None:
        items = params.items() if isinstance(params, Mapping) else params
        self._values: dict[str, list[str]] = {}
        for name, value in items:
            values = value if isinstance(value, list) else [value]
            self._values.setdefault(name, []).extend(values)

    def getall(self, name: str) -> list[str]:
        return list(self._values[name])

    def __getitem__(self, name: str) -> str:
        return self._values[name][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def compute_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str | list[str]] | Iterable[tuple[str, str]],
    algorithm: str | None = None,
) -> str:
    """What Twilio puts in ``X-Twilio-Signature`` for a POST of ``params`` to ``url``."""
    return RequestValidator(auth_token).compute_signature(url, FormParams(params), algorithm)


def signature_valid(
    auth_token: str,
    url: str,
    params: Mapping[str, str | list[str]] | Iterable[tuple[str, str]],
    signature: str | None,
    settings_header: str | None = None,
) -> bool:
    """Twilio's own check (port variants included); ``settings_header`` is the request's
    ``X-Twilio-Webhooks-Signature-Settings``, if any."""
    if not signature or not auth_token:
        return False
    return RequestValidator(auth_token).validate(
        url, FormParams(params), signature, get_signature_algorithm(settings_header)
    )
