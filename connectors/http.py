"""The one HTTP layer every connector uses: timeouts, retries, typed errors.

Retry lives here and nowhere else (Airbyte's error mapping): 429, 408 and 5xx
and connection errors/timeouts are retried with exponential backoff and jitter,
honouring ``Retry-After`` and ``X-RateLimit-Reset``; 401/403 raise
:class:`AuthError` whose message carries the vendor's error code and message (PII
redacted, see :mod:`connectors.vendor_errors`), and a 403 whose code says the account
is not allowed the feature (Google's ``CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE``)
raises :class:`DestinationStopped` instead, so nobody rotates good credentials; other 4xx are returned to the caller, which maps them to
per-record rejections. Nothing here logs bodies, headers or URLs with secrets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from connectors.base import AuthError, DestinationStopped, RetryableError
from connectors.request_hold import RequestHold
from connectors.vendor_errors import parse_vendor_error

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
# Sends (`HttpClient.sends`): only a 429 proves the vendor took nothing, so only a 429 is
# tried again, a few times and only while the vendor's window opens soon: a longer wait goes
# back to the engine (RETRYABLE, the next run), which keeps renewing its lease and never
# holds a send's slot for minutes.
SEND_429_TRIES = 3
SEND_429_MAX_WAIT = 5.0  # seconds


class _Retry(Exception):
    def __init__(self, response: requests.Response | None, reason: str) -> None:
        super().__init__(reason)
        self.response = response
        self.reason = reason


def retry_after_seconds(response: requests.Response | None, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait: `Retry-After` (seconds or HTTP date), else `X-RateLimit-Reset`."""
    if response is None:
        return None
    now = time.time() if now is None else now
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset and response.status_code == 429:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def auth_error(method: str, path: str, response: requests.Response) -> AuthError:
    """The typed error for a 401/403, with the vendor's own code and message in it."""
    error = parse_vendor_error(response.status_code, response.content)
    if error.feature_not_allowed:
        return DestinationStopped(
            f"{method} {path}: {error.describe()} (permission/feature: the account is not "
            "allowed this feature or API; not a credentials problem)"
        )
    return AuthError(f"{method} {path}: {error.describe()}")


@dataclass
class HttpClient:
    """A requests session with Ferry's retry policy. `redact` lists substrings never to log."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    auth: Any = None
    timeout: float = 30.0
    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    is_retryable: Callable[[requests.Response], bool] | None = None
    # Non-idempotent requests (a message sent): a try is repeated only after a 429 (nothing
    # was taken), at most SEND_429_TRIES tries, and only for a wait of SEND_429_MAX_WAIT at
    # most; a timeout, a dropped connection or a 5xx is never replayed (the caller
    # reconciles). See `HttpClient.for_sends`.
    sends: bool = False

    @classmethod
    def for_sends(cls, base_url: str, **kwargs: Any) -> HttpClient:
        """A client for requests that must not be replayed blindly (see `sends`)."""
        return cls(base_url, max_attempts=SEND_429_TRIES, sends=True, **kwargs)

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.session.headers.update(self.headers)
        if self.auth is not None:
            self.session.auth = self.auth
        self.retries = 0  # total retries made by this client (for metrics and tests)
        # A Retry-After holds every later request (the next batch too), not only the retried
        # one; the engine replaces this private hold with its vendor quota's shared one.
        self.hold = RequestHold()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send with retries. Returns the final response (2xx or a non-retryable 4xx)."""
        url = path if path.startswith("http") else self.base_url.rstrip("/") + "/" + path.lstrip("/")
        kwargs.setdefault("timeout", self.timeout)

        served = [0.0]  # the end of the client-wide hold this request has waited out

        def hold() -> float:
            """What is left of the hold a Retry-After put on this quota, unless served."""
            served[0], left = self.hold.pending(served[0])
            return left

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retry):
                asked = retry_after_seconds(exc.response)
                if asked is not None:
                    # This request's own answer: the time it asked for (or a longer hold).
                    left = hold()
                    return max(min(asked, self.max_retry_after), left)
            return wait_exponential_jitter(multiplier=self.backoff_initial, max=self.backoff_max)(state)

        def attempt() -> requests.Response:
            # Every try, first or retry, waits out the hold a Retry-After put on this client:
            # concurrent workers share it, so one 429 holds them all (a retry after a 5xx's
            # backoff too), and a later 429 extends it for everyone.
            pause = hold()
            if pause > 0:
                self.sleep(pause)
            self.hold.served(served[0])  # waited out: requests that start from now need not wait
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                # ChunkedEncodingError: the connection dropped mid-response. Non-idempotent
                # calls (sends: `for_sends`) are not replayed and reconcile instead.
                raise _Retry(None, type(exc).__name__) from exc
            if response.status_code in AUTH_STATUSES:
                raise auth_error(method, path, response)
            retryable = response.status_code in RETRY_STATUSES or (
                self.is_retryable is not None and self.is_retryable(response)
            )
            if retryable:
                asked = retry_after_seconds(response)
                if asked is not None:
                    self.hold.extend(min(asked, self.max_retry_after))
                raise _Retry(response, f"HTTP {response.status_code}")
            return response

        def stop(state: RetryCallState) -> bool:
            if stop_after_attempt(self.max_attempts)(state):
                return True
            if not self.sends:
                return False
            exc = state.outcome.exception() if state.outcome else None
            response = exc.response if isinstance(exc, _Retry) else None
            if response is None or response.status_code != 429:
                return True  # the vendor may have taken it: never replayed
            return max(retry_after_seconds(response) or 0.0, hold()) > SEND_429_MAX_WAIT

        tries = [0]

        def counted() -> requests.Response:
            tries[0] += 1
            return attempt()

        retrying = Retrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop,
            wait=wait,
            sleep=self.sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            return retrying(counted)
        except _Retry as exc:
            raise RetryableError(f"{method} {path}: gave up after {tries[0]} tries ({exc.reason})") from None

    def _count_retry(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.info("retrying %s after %s (try %d)", self.base_url, getattr(exc, "reason", exc), state.attempt_number)
