"""The destination contract shared by the sync engine and every connector.

Why here and not in ``syncs``: dependencies point ``syncs -> connectors``, so the
types both sides speak must live on the connector side. The engine plans, applies
policies, batches and keeps state; a destination only turns one batch of records
into one result per record and declares what it can do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa


class Operation(str, Enum):
    """What the engine asks the destination to do with one record."""

    UPSERT = "upsert"  # add or update (modes upsert, mirror, insert)
    REMOVE = "remove"  # take out of the list/audience (mode mirror)
    SEND = "send"  # one message (mode send)
    DELETE = "delete"  # erase the person at the destination (mode delete)


class Outcome(str, Enum):
    """How the destination answered for one record."""

    ACCEPTED = "accepted"  # state may be committed
    REJECTED = "rejected"  # permanent for this payload: keep old state, count an attempt
    RETRYABLE = "retryable"  # transient: keep old state, no attempt counted against parking
    IN_DOUBT = "in_doubt"  # request made, answer lost (send mode): reconcile before retrying
    SUPPRESSED = "suppressed"  # destination says the person opted out (e.g. Twilio 21610)


@dataclass(frozen=True)
class Capabilities:
    """What a destination declares to the engine, so batching and modes are checked up front."""

    modes: frozenset[str]  # subset of {"upsert", "mirror", "insert", "send", "delete"}
    identifiers: frozenset[str]  # identifier kinds it accepts, e.g. {"email"}, {"phone"}
    max_batch_records: int
    max_batch_bytes: int | None = None
    max_requests_per_second: float | None = None
    max_concurrency: int = 1
    min_audience_size: int | None = None  # e.g. Meta's delivery floor
    hashes_identifiers: bool = False  # ad tools: identifiers leave only as SHA-256
    # Send mode makes one request per record (SMS, transactional mail): the engine then
    # commits each send's intent just before that send's own request (batches of one,
    # up to max_concurrency in flight), so an interruption leaves only the requests in
    # flight in doubt, never the rest of a batch.
    request_per_send: bool = False


@dataclass(frozen=True)
class Record:
    """One record of a batch: the key is the sync's record key (usually profile_id)."""

    key: str
    operation: Operation
    payload: Mapping[str, Any]  # identifiers and mapped fields, already normalised
    idempotency_key: str | None = None  # send mode: (sync, profile, occurrence)
    attempt: int = 1
    # reconcile(): when the engine committed this send's intent (naive UTC), just before
    # the request could leave. A message created before it belongs to an earlier send.
    intent_at: datetime | None = None


# A RETRYABLE result whose error starts with this is the destination pacing itself (e.g.
# SMS quiet hours in the recipient's time zone), not a failure: it never counts toward
# the engine's stop after consecutive failing requests.
DEFERRED = "deferred: "


# An UPSERT whose identifiers changed since the destination last accepted the record
# (a new e-mail address) carries the old ones under this payload key, so the destination
# takes the old contact out of the list/audience (or changes it in place) and no stale
# address stays subscribed. Keys starting with "_" are never sent as fields.
REPLACED_IDENTIFIERS = "_replaced_identifiers"


@dataclass(frozen=True)
class RecordResult:
    key: str
    outcome: Outcome
    error: str | None = None  # vendor message/code, never raw PII
    destination_id: str | None = None  # e.g. SendGrid contact id, Twilio message sid


@dataclass(frozen=True)
class BatchAccepted:
    """A destination's answer that every record of the batch was accepted.

    Why: most batches are accepted whole, and one RecordResult per accepted record
    costs a Python object per record on both sides (the engine's hot path at a
    million records). `write()` may return this instead of the list; a batch with
    any other outcome must still return one RecordResult per record. Returning a
    list stays valid: existing destinations need no change.
    """

    # record key -> the vendor's id for it, where the vendor gives one
    destination_ids: Mapping[str, str] = field(default_factory=dict)
    # One id for every record not in destination_ids (e.g. the webhook's batch id).
    destination_id: str | None = None


def expand_results(
    records: list[Record], answer: list[RecordResult] | BatchAccepted
) -> list[RecordResult]:
    """One RecordResult per record, whichever form `write()` answered in."""
    if not isinstance(answer, BatchAccepted):
        return answer
    ids, shared = answer.destination_ids, answer.destination_id
    return [
        RecordResult(r.key, Outcome.ACCEPTED, destination_id=ids.get(r.key, shared))
        for r in records
    ]


@dataclass(frozen=True)
class JsonBatch:
    """A batch as Arrow columns, each payload already JSON text: for destinations that put
    payloads on the wire as JSON (`write_json`), so no Python object is built per record.

    Columns (one value per record): `keys`, `operations` (Operation values), `payloads`
    (a JSON object's text, written by connectors.json_columns: what `json.dumps` of the
    Record's payload would write, compact), `attempts`, `idempotency_keys` (send mode).
    `records()` gives the same batch as Records, for a destination's slow path.
    """

    keys: pa.Array
    operations: pa.Array
    payloads: pa.Array
    attempts: pa.Array
    idempotency_keys: pa.Array | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def records(self) -> list[Record]:
        import json

        idem = self.idempotency_keys.to_pylist() if self.idempotency_keys is not None else None
        return [
            Record(key, Operation(op), json.loads(payload), idem[i] if idem else None, attempt)
            for i, (key, op, payload, attempt) in enumerate(
                zip(
                    self.keys.to_pylist(),
                    self.operations.to_pylist(),
                    self.payloads.to_pylist(),
                    self.attempts.to_pylist(),
                )
            )
        ]


class DestinationError(Exception):
    """Base of the typed errors the one HTTP layer raises.

    Any other exception escaping `write()` is taken by the engine as a fault in this
    batch's payloads, raised before a request left: each record is retried alone and
    the one that raises again is REJECTED with the exception's text (parked after
    max_attempts); the rest of the batch goes on. A send destination that cannot say
    whether its request left must answer IN_DOUBT instead of raising.
    """


class AuthError(DestinationError):
    """401/403 or a bad token: stop the run, keep state, page a human."""


class DestinationStopped(AuthError):
    """The destination refuses the whole audience or account until a human acts: a flagged
    audience (Meta error 100/1713230, operation status 471), a feature the account is not
    allowlisted for (Google's CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE). Not a credentials
    problem, but it stops the run the same way (state kept, no record counted as rejected),
    so it subclasses AuthError; its message carries the vendor's code and reason."""


class RetryableError(DestinationError):
    """429/5xx/timeouts after the retry budget is spent: the whole batch stays pending.

    The engine stops the run at the first batch that raises it (what follows would
    meet the same trouble) and reports the run as failed with this message.
    """


class RejectedError(DestinationError):
    """A permanent rejection of the whole request (e.g. 400 with no per-record detail)."""


class MissingCredentials(ValueError):
    """A destination has no credentials and the sandbox was not chosen: refuse to build.

    Raised by ``from_options`` before any request. ``options`` names the missing
    options, ``variables`` the environment variables the connector itself reads
    for them; the sync registry rewrites the message with the variables that
    destinations.yml references instead (``${SENDGRID_API_KEY}``).
    """

    def __init__(self, destination: str, options: dict[str, str | None]) -> None:
        self.destination = destination
        self.options = dict(options)  # option -> the connector's own env variable, if any
        super().__init__(self.describe(self.options))

    def describe(self, variables: dict[str, str | None]) -> str:
        names = [variables.get(o) or f"option {o}" for o in self.options]
        verb = "is" if len(names) == 1 else "are"
        return (
            f"destination {self.destination}: {', '.join(names)} {verb} not set "
            f"(set {'it' if len(names) == 1 else 'them'}, or {SANDBOX_ENV}=1 for the local sandbox)"
        )


# The sandbox is chosen, never fallen into: FERRY_SANDBOX=1 (make demo, the tests) or
# `sandbox: true` in a destination's options lets a destination without credentials
# talk to its local sandbox on 127.0.0.1; otherwise missing credentials fail the build.
SANDBOX_ENV = "FERRY_SANDBOX"


def sandbox_chosen(option: bool | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """True when this destination's options say ``sandbox: true`` or the process opted in."""
    if option is not None:
        return option
    import os

    value = (os.environ if environ is None else environ).get(SANDBOX_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def target_host(url: str) -> str:
    """``host[:port]`` of a URL: no scheme, user info, path or query (they may hold secrets)."""
    from urllib.parse import urlsplit

    split = urlsplit(url)
    host = split.hostname or ""
    return f"{host}:{split.port}" if split.port else host


def fingerprint(secret: str) -> str:
    """A short one-way digest of a credential: tells two accounts' quotas apart in memory
    without keeping or showing the credential itself."""
    import hashlib

    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def identity(kind: str, where: str, *parts: str) -> str:
    """``kind:where:part:part``: the shape of every ``destination_identity``."""
    return ":".join([kind, where, *[p for p in parts if p]])


def identity_where(url: str, is_sandbox: bool, local: bool) -> str:
    """The ``where`` of an identity: ``sandbox`` for the process-wide local sandbox (its
    port changes between processes, its identity must not), ``sandbox@host:port`` for
    a sandbox reached at an explicit address, else the real host."""
    if local:
        return "sandbox"
    return f"sandbox@{target_host(url)}" if is_sandbox else target_host(url)


@runtime_checkable
class Destination(Protocol):
    """What every connector's destination implements.

    Optional attributes (read with ``getattr`` and a fallback, so a plugin
    destination without them still loads):

    - ``destination_identity: str``: where the records actually land, stable
      across runs and processes: type + account/host + list/audience/url/path
      (``sendgrid:api.sendgrid.com:list=ferry_marketing``), with ``sandbox`` in
      it when a sandbox is used, never a secret. The engine keys sync state by
      it, so a sync re-pointed at another list or account starts fresh there.
    - ``target_label: str``: ``"sandbox"`` or the real host, printed in every
      plan, run summary and log line.
    - ``rate_limit_scope: str``: the vendor quota its requests draw on (an account,
      an API key's fingerprint, a host), when wider than ``destination_identity``.
      Every sync to one scope in a process shares one request budget and one
      Retry-After hold (``syncs.throttle``).
    """

    name: str
    capabilities: Capabilities

    def write(self, records: list[Record]) -> list[RecordResult] | BatchAccepted:
        """Deliver one batch (already within the declared limits); one result per record,
        or BatchAccepted when every record was accepted."""
        ...

    # Optional attributes the engine reads with getattr():
    # - destination_identity: str, type + account + list/audience (never a secret); sync
    #   state belongs to it, so a re-pointed sync starts fresh at the new target.
    # - target_label: str, "sandbox" or the real host, shown in every plan and run.

    # Optional, for destinations that stage accepted batches (read with getattr):
    # - finish() -> None, called once when a run ends, whatever its outcome, before its
    #   lease is released: publish what the run's accepted batches staged (the file
    #   export folds its journal into the latest file). An exception fails a run that
    #   would have succeeded; what was staged stays for the next run's finish().

    # Optional, for destinations that send JSON (read with getattr, see JsonBatch):
    # - write_json(batch: JsonBatch) -> list[RecordResult] | BatchAccepted, the same
    #   contract as write() for the same records; the engine uses it outside send mode.

    def reconcile(self, records: list[Record]) -> list[RecordResult]:
        """Settle in-doubt sends by looking them up at the destination by idempotency key.

        Returns ACCEPTED for those found, RETRYABLE for those proven absent and
        IN_DOUBT for those that cannot be settled (the engine parks them).
        """
        ...


def parse_options(model: Any, options: Mapping[str, Any] | None, what: str) -> Any:
    """A connector's options validated by its pydantic model; a ValueError names each wrong
    key and why, never a value (an option may be a secret)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(dict(options or {}))
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{what}, options: {details}") from None


def payload_bytes(records: Iterable[Record]) -> int:
    """Rough JSON size of a batch, used by the engine to respect byte limits."""
    import json

    return sum(len(json.dumps(dict(r.payload), default=str)) for r in records)


@dataclass
class DestinationConfig:
    """A destination instance as declared in an audience's YAML meta."""

    type: str  # sendgrid | twilio | meta | google_ads | webhook | file
    options: dict[str, Any] = field(default_factory=dict)
