"""The shared base of every vendor sandbox: a tiny HTTP server on 127.0.0.1.

Why our own and not a mocking library: a sandbox must behave like the vendor
over a real socket (auth, limits, 429s, async jobs, dropped connections), so the
same connector code that runs against the vendor runs against it, and tests see
real HTTP. ``http.server.ThreadingHTTPServer`` is enough and has no dependency.

A vendor sandbox subclasses :class:`SandboxServer` and:

- declares routes with :meth:`SandboxServer.route` (``"/v3/lists/{id}/contacts"``
  style patterns; ``{name}`` captures one path segment into ``request.params``);
- overrides :meth:`authenticate` (return ``None`` if the request may pass, else
  the vendor's 401/403 :class:`Response`);
- overrides :meth:`error_response` (the vendor's error body shape, used for
  injected 5xx and unknown routes) and :meth:`too_many_requests` /
  :meth:`rate_limit_headers` (the vendor's 429 and ``X-RateLimit-*`` headers);
- keeps what the vendor "now holds" in ``self.state`` (any object).

Every request passes, in order: request log -> injected pre-processing faults
(5xx, drop) -> auth -> token-bucket rate limit -> route handler (under
``self.lock``; a ``ValueError`` from it answers 400, any other exception 500)
-> injected post-processing faults (slow, drop) -> response.

Faults (``server.faults``) are armed by tests on demand and consumed one request
at a time, optionally only for requests matching a method/path regex:

- ``fail_next(n, status=500)``: answer 5xx without processing;
- ``slow_next(n, seconds)``: process, then wait before answering (a client
  timeout makes the request *in doubt*: the vendor did the work);
- ``drop_next(n, after_processing=True)``: close the socket mid-response
  (headers and half a body sent) or, with ``after_processing=False``, before
  anything is processed or written;
- ``reject(identifier, message)``: per-record rejections that vendor handlers
  consult with ``faults.rejection_for(identifier)``.

``server.request_log`` records every request (method, path, query, headers with
credentials redacted, body bytes, status, fault, timings) so tests can assert,
for example, that no request ever exceeded a vendor's documented limit.

Usage::

    with MySandbox() as sb:
        client = HttpClient(sb.base_url)
        ...
        assert all(r.status != 413 for r in sb.request_log)
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Handler = Callable[["Request"], "Response"]
log = logging.getLogger(__name__)

REDACTED_HEADERS = frozenset({"authorization", "x-twilio-signature", "cookie"})


# --------------------------------------------------------------------------- requests and responses


@dataclass
class Request:
    """One incoming request, parsed just enough for handlers."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # captured from the route pattern
    url: str = ""  # full URL as the client addressed it (Twilio signs it)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query-string parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` on a malformed body (handlers answer 400)."""
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def form(self) -> dict[str, str]:
        """The body as ``application/x-www-form-urlencoded`` (first value of each key)."""
        return {k: v[0] for k, v in self.form_multi().items()}

    def form_multi(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status,
            json.dumps(data).encode("utf-8"),
            {"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))


@dataclass
class LoggedRequest:
    """What the request log keeps of one request (credentials redacted)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    started_at: float
    status: int | None = None
    fault: str | None = None  # "fail", "slow", "drop", "rate_limited" or None
    ended_at: float | None = None
    # what the sandbox answered (contract tests validate it against the vendor's schema)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def body_bytes(self) -> int:
        return len(self.body)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# --------------------------------------------------------------------------- rate limiting


@dataclass
class TokenBucket:
    """Classic token bucket: ``rate`` tokens a second, at most ``burst`` saved up.

    ``take`` returns 0.0 when a token was available, else the seconds until the
    next token: the sandbox answers 429 with that wait in the vendor's headers.
    """

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> float:
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    @property
    def remaining(self) -> int:
        self._refill()
        return int(self.tokens)


# --------------------------------------------------------------------------- fault injection


@dataclass
class _Fault:
    kind: str  # fail | slow | drop
    remaining: int
    status: int = 500
    seconds: float = 0.0
    after_processing: bool = True
    method: str | None = None
    path: re.Pattern[str] | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method and self.method.upper() != method:
            return False
        return self.path is None or bool(self.path.search(path))


class Faults:
    """Faults armed by tests, consumed one matching request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Fault] = []
        self._rejections: dict[str, str] = {}
        self._storm: tuple | None = None

    def _arm(self, fault: _Fault, path: str | None) -> None:
        fault.path = re.compile(path) if path else None
        with self._lock:
            self._armed.append(fault)

    def fail_next(
        self, n: int = 1, status: int = 500, *, method: str | None = None, path: str | None = None
    ) -> None:
        """The next ``n`` matching requests get ``status`` (a 5xx) and are not processed."""
        self._arm(_Fault("fail", n, status=status, method=method), path)

    def slow_next(
        self,
        n: int = 1,
        seconds: float = 2.0,
        *,
        after_processing: bool = True,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` matching requests wait ``seconds`` (after processing by default)."""
        self._arm(
            _Fault("slow", n, seconds=seconds, after_processing=after_processing, method=method),
            path,
        )

    def drop_next(
        self,
        n: int = 1,
        *,
        after_processing: bool = True,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """The next ``n`` matching requests lose their connection.

        ``after_processing=True``: the vendor did the work, then the socket closes
        after the headers and half the body (the client sees an incomplete read).
        ``False``: the socket closes before anything is processed or written.
        """
        self._arm(_Fault("drop", n, after_processing=after_processing, method=method), path)

    def storm(
        self,
        rate: float,
        kind: str = "fail",
        *,
        status: int = 503,
        seed: int = 0,
        method: str | None = None,
        path: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """From now on, each matching request fails with probability ``rate`` (a seeded RNG):
        ``kind`` "fail" answers ``status`` unprocessed; "drop" loses the connection (after
        processing if ``after_processing``: the vendor did the work, the answer is lost)."""
        with self._lock:
            self._storm = (rate, kind, status, random.Random(seed), method, re.compile(path) if path else None, after_processing)

    def storm_hit(self, method: str, path: str, after_processing: bool) -> tuple[str, int] | None:
        """(kind, status) when the storm strikes this request in this phase."""
        with self._lock:
            if self._storm is None:
                return None
            rate, kind, status, rng, m, pattern, after = self._storm
            if after != after_processing or (m and m.upper() != method):
                return None
            if pattern is not None and not pattern.search(path):
                return None
            return (kind, status) if rng.random() < rate else None

    def reject(self, identifier: str, message: str = "rejected by sandbox fault injection") -> None:
        """Make vendor handlers reject the record with this identifier (e.g. an email)."""
        with self._lock:
            self._rejections[identifier.lower()] = message

    def rejection_for(self, identifier: str | None) -> str | None:
        if identifier is None:
            return None
        with self._lock:
            return self._rejections.get(str(identifier).lower())

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self._rejections.clear()
            self._storm = None

    def take(
        self, method: str, path: str, kinds: tuple[str, ...], after_processing: bool
    ) -> _Fault | None:
        """Consume and return the first armed fault of ``kinds`` matching this request and phase."""
        with self._lock:
            for fault in self._armed:
                phase_ok = (
                    fault.kind == "fail"
                    and not after_processing
                    or (
                        fault.kind in ("slow", "drop")
                        and fault.after_processing == after_processing
                    )
                )
                if fault.kind in kinds and phase_ok and fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._armed.remove(fault)
                    return fault
        return None


# --------------------------------------------------------------------------- the server


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    bucket: str


class _DropConnection(Exception):
    """Raised inside the request handler to close the socket without a clean answer."""


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile("^" + regex + "$")


class SandboxServer:
    """A vendor stand-in on 127.0.0.1:<free port>, served from a background thread.

    Subclasses register routes in ``__init__`` (after ``super().__init__()``) and
    override the hooks documented in the module docstring. ``start()`` is called
    by ``__enter__``; ``stop()`` shuts the server down and closes its socket.
    """

    vendor = "sandbox"

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.lock = threading.RLock()  # handlers run under it: state is consistent
        self.state: Any = None
        self.faults = Faults()
        self.request_log: list[LoggedRequest] = []
        self._routes: list[_Route] = []
        self._buckets: dict[str, TokenBucket] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # Fault harnesses: called with (request, "before" | "after") around the vendor's
        # processing of each request (e.g. to kill -9 the client at an exact point).
        self.on_request: Callable[[Request, str], None] | None = None

    # ----- lifecycle

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes: with Nagle on, every answer waited for
            # the client's delayed ACK (40 ms a request on loopback).
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                server._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: object) -> None:  # no access log: bodies hold PII
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False  # a slow-response fault must not block stop()
        httpd.handle_error = lambda request, client_address: (
            None
        )  # clients that hang up are expected
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name=f"{self.vendor}-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ----- configuration

    def route(
        self, method: str, pattern: str, handler: Handler, *, bucket: str = "default"
    ) -> None:
        """Serve ``method pattern`` with ``handler``; ``bucket`` names its rate limit."""
        self._routes.append(_Route(method.upper(), _compile(pattern), handler, bucket))

    def set_rate_limit(
        self, rate: float | None, burst: int = 1, *, bucket: str = "default"
    ) -> None:
        """Allow ``rate`` requests a second with bursts of ``burst`` (None removes the limit)."""
        with self.lock:
            if rate is None:
                self._buckets.pop(bucket, None)
            else:
                self._buckets[bucket] = TokenBucket(rate, burst)

    def requests_to(
        self, method: str | None = None, path: str | None = None
    ) -> list[LoggedRequest]:
        """Logged requests filtered by method and a path regex (searched)."""
        rx = re.compile(path) if path else None
        return [
            r
            for r in list(self.request_log)
            if (method is None or r.method == method.upper()) and (rx is None or rx.search(r.path))
        ]

    # ----- hooks for vendor subclasses

    def authenticate(self, request: Request) -> Response | None:
        """Return None when the request may pass, else the vendor's 401/403 answer."""
        return None

    def error_response(self, status: int, message: str, request: Request | None = None) -> Response:
        """The vendor's error body for ``status`` (override for the vendor's shape)."""
        return Response.json({"error": message}, status)

    def rate_limit_headers(self, bucket: TokenBucket, retry_after: float) -> dict[str, str]:
        """Headers on every rate-limited route's answer (override: e.g. ``X-RateLimit-*``)."""
        return {}

    def too_many_requests(
        self, request: Request, bucket: TokenBucket, retry_after: float
    ) -> Response:
        """The vendor's 429; default carries ``Retry-After`` in whole seconds (at least 1)."""
        response = self.error_response(429, "too many requests", request)
        response.headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        return response

    # ----- dispatch

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        path_known = False
        for r in self._routes:
            m = r.pattern.match(path)
            if m:
                path_known = True
                if r.method == method:
                    return r, m.groupdict(), True
        return None, {}, path_known

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        split = urlsplit(h.path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        request = Request(
            method=h.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            url=f"http://{headers.get('host', f'127.0.0.1:{self.port}')}{h.path}",
        )
        entry = LoggedRequest(
            method=request.method,
            path=request.path,
            query=request.query,
            headers={k: ("<redacted>" if k in REDACTED_HEADERS else v) for k, v in headers.items()},
            body=body,
            started_at=self.clock(),
        )
        with self.lock:
            self.request_log.append(entry)
        try:
            response = self._respond(request, entry)
            self._write(h, response, entry)
        except _DropConnection:
            h.close_connection = True
        finally:
            entry.ended_at = self.clock()

    def _respond(self, request: Request, entry: LoggedRequest) -> Response:
        if self.on_request is not None:
            self.on_request(request, "before")
        response = self._process(request, entry)
        if self.on_request is not None:
            self.on_request(request, "after")
        return response

    def _process(self, request: Request, entry: LoggedRequest) -> Response:
        hit = self.faults.storm_hit(request.method, request.path, after_processing=False)
        if hit is not None:
            entry.fault = f"storm_{hit[0]}"
            if hit[0] == "drop":
                raise _DropConnection()
            return self.error_response(hit[1], "injected server error (storm)", request)
        before = self.faults.take(
            request.method, request.path, ("fail", "drop", "slow"), after_processing=False
        )
        if before is not None:
            entry.fault = before.kind
            if before.kind == "fail":
                return self.error_response(before.status, "injected server error", request)
            if before.kind == "drop":
                raise _DropConnection()
            time.sleep(before.seconds)

        denied = self.authenticate(request)
        if denied is not None:
            return denied

        route, params, path_known = self._match(request.method, request.path)
        if route is None:
            status = 405 if path_known else 404
            return self.error_response(
                status, "method not allowed" if path_known else "not found", request
            )
        request.params = params

        with self.lock:
            bucket = self._buckets.get(route.bucket)
            wait = bucket.take() if bucket is not None else 0.0
            if wait > 0:
                entry.fault = "rate_limited"
                response = self.too_many_requests(request, bucket, wait)  # type: ignore[arg-type]
                response.headers.update(self.rate_limit_headers(bucket, wait))  # type: ignore[arg-type]
                return response
            try:
                response = route.handler(request)
            except ValueError as exc:  # malformed body the handler could not parse
                response = self.error_response(400, f"malformed request: {exc}", request)
            except Exception as exc:
                log.exception(
                    "%s sandbox handler failed on %s %s", self.vendor, request.method, request.path
                )
                response = self.error_response(500, f"sandbox error: {type(exc).__name__}", request)
            if bucket is not None:
                response.headers.update(self.rate_limit_headers(bucket, 0.0))

        if self.faults.storm_hit(request.method, request.path, after_processing=True) is not None:
            entry.fault = "storm_drop_after"
            response.headers["X-Sandbox-Drop"] = "1"  # processed, then the answer is lost
            return response
        after = self.faults.take(
            request.method, request.path, ("slow", "drop"), after_processing=True
        )
        if after is not None:
            entry.fault = after.kind
            if after.kind == "slow":
                time.sleep(after.seconds)
            else:
                response.headers["X-Sandbox-Drop"] = "1"  # _write sends half the body, then closes
        return response

    def _write(self, h: BaseHTTPRequestHandler, response: Response, entry: LoggedRequest) -> None:
        entry.status = response.status
        drop = response.headers.pop("X-Sandbox-Drop", None) is not None
        body = response.body
        entry.response_headers, entry.response_body = dict(response.headers), body
        if drop and not body:
            body = b'{"dropped": true}'
        h.send_response(response.status)
        for key, value in response.headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        if drop:
            h.send_header("Connection", "close")
        h.end_headers()
        if drop:
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            raise _DropConnection()
        h.wfile.write(body)


def post_webhook(url: str, body: bytes, headers: dict[str, str], timeout: float = 5.0) -> int:
    """Deliver one webhook from a sandbox to a receiver; returns the HTTP status (0 if unreachable).

    Sandboxes deliver like the vendors do (at least once, no client-side retries
    here: tests redeliver explicitly to check idempotency).
    """
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0
