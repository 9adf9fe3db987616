"""Route the official ``sendgrid`` client's HTTP through Ferry's one retry layer.

Why: ``sendgrid.SendGridAPIClient`` builds URLs, headers (``Authorization:
Bearer``, ``User-Agent``) and JSON bodies, then sends them with
``python_http_client`` over urllib: no retries at all, 4xx/5xx raised as
exceptions, and DEBUG logs that print headers (the API key) and payloads (PII).
Wrapping each call in a second retry loop would put retries in two places.
Instead we keep the package for what it is good at and swap only its last step:
:class:`FerryTransport` is a ``python_http_client.Client`` whose
``_make_request`` (the documented seam "so we can mock it") hands the prepared
``urllib.request.Request`` to :class:`connectors.http.HttpClient`. So:

- 429 / 5xx / timeouts / dropped connections are retried once, in one place,
  honouring ``Retry-After`` and SendGrid's ``X-RateLimit-Reset``;
- 401/403 raise :class:`connectors.base.AuthError`;
- other 4xx are *returned* (not raised) so the destination maps SendGrid's
  ``{"errors": [{"field", "message"}]}`` to per-record results;
- ``python_http_client``'s debug logger is capped at INFO so no key or payload
  is ever logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import python_http_client
import requests
import sendgrid

from connectors.base import RetryableError
from connectors.http import HttpClient

logging.getLogger("python_http_client").setLevel(logging.INFO)


class _UrllibLikeResponse:
    """What ``python_http_client.Response`` reads from a urllib response."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def getcode(self) -> int:
        return self._response.status_code

    def read(self) -> bytes:
        return self._response.content

    def info(self) -> Any:
        return self._response.headers


class FerryTransport(python_http_client.Client):
    """A ``python_http_client.Client`` that sends through an :class:`HttpClient`."""

    def __init__(self, http: HttpClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.http = http

    def _build_client(self, name: str | None = None) -> FerryTransport:
        url_path = self._url_path + [name] if name else self._url_path
        return FerryTransport(
            self.http,
            host=self.host,
            version=self._version,
            request_headers=self.request_headers,
            url_path=url_path,
            append_slash=self.append_slash,
            timeout=self.timeout,
        )

    def _make_request(
        self, opener: Any, request: Any, timeout: float | None = None
    ) -> _UrllibLikeResponse:
        headers = dict(request.header_items())
        try:
            response = self.http.request(
                request.get_method(),
                request.get_full_url(),
                data=request.data,
                headers=headers,
                timeout=timeout or self.timeout or self.http.timeout,
            )
        except requests.exceptions.ChunkedEncodingError as exc:
            # A connection dropped mid-body escapes connectors.http (it only maps
            # Timeout/ConnectionError); surface it as the retryable error it is.
            raise RetryableError(
                f"{request.get_method()} {urlsplit(request.get_full_url()).path}: connection dropped mid-response"
            ) from exc
        return _UrllibLikeResponse(response)


def sendgrid_client(api_key: str, host: str, http: HttpClient) -> sendgrid.SendGridAPIClient:
    """An official SendGrid client pointed at ``host`` whose HTTP goes through ``http``."""
    client = sendgrid.SendGridAPIClient(api_key=api_key, host=host)
    client.client = FerryTransport(
        http, host=host, request_headers=client._default_headers, version=3
    )
    return client


@dataclass
class RateLimitPacer:
    """Keeps non-retried calls (sends) inside the vendor's advertised rate limit.

    Sends are never replayed by the HTTP layer (a replay can deliver twice), so
    instead of retrying after a 429 we avoid it: when an answer says the window
    is spent (``X-RateLimit-Remaining: 0``) or a 429 arrives, the next send
    waits for ``Retry-After`` / ``X-RateLimit-Reset`` (capped). This is pacing,
    not a retry loop: the 429'd record itself comes back RETRYABLE.
    """

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    max_wait: float = 120.0
    _until: float = 0.0

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        remaining = headers.get("X-RateLimit-Remaining")
        spent = remaining is not None and remaining.strip().isdigit() and int(remaining) <= 0
        if status != 429 and not spent:
            return
        now = self.clock()
        wait: float | None = None
        if headers.get("Retry-After"):
            try:
                wait = float(headers["Retry-After"])
            except ValueError:
                wait = None
        if wait is None and headers.get("X-RateLimit-Reset"):
            try:
                wait = float(headers["X-RateLimit-Reset"]) - now
            except ValueError:
                wait = None
        if wait is None:
            wait = 1.0
        self._until = max(self._until, now + min(max(wait, 0.0), self.max_wait))

    def observe_error(self, exc: BaseException) -> None:
        """A ``RetryableError`` from the HTTP layer: read the 429's headers if it carried one."""
        response = getattr(exc.__context__, "response", None)
        if response is not None:
            self.observe(response.headers, response.status_code)

    def wait(self) -> None:
        delay = self._until - self.clock()
        if delay > 0:
            self.sleep(delay)
